"""Detection assets through the real pipeline code (`run_once`) on a temp data root: every reading
scored once, faults alerted, checks reported, and the same results whether the data arrives in one
file or in several micro-batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smart_maintenance import lake
from smart_maintenance.runner import instance_for, run_once
from smart_maintenance_tests.conftest import drop

START = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday: weeks are the models' partitions
SPIKE_AT = START + pd.Timedelta(days=16, hours=12)


def plant(days: int = 18, seed: int = 3) -> pd.DataFrame:
    """Two pumps, two sensors each, a reading every 10 minutes, a daily cycle plus noise, and one spike."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(START, periods=days * 144, freq="10min")
    frames = []
    for eq in ("pump-1", "fan-2"):
        load = np.sin(2 * np.pi * np.arange(len(times)) / 144)
        for sensor, base, noise in (("temp", 60.0, 0.5), ("vib", 3.0, 0.05)):
            if eq == "fan-2" and sensor == "vib":
                continue
            value = base + 2 * load + rng.normal(0, noise, len(times))
            frames.append(pd.DataFrame({"timestamp": times, "equipment_id": eq, "sensor_id": sensor, "value": value}))
    out = pd.concat(frames, ignore_index=True)
    spike = (out["timestamp"] == SPIKE_AT) & (out["equipment_id"] == "pump-1") & (out["sensor_id"] == "vib")
    out.loc[spike, "value"] = 9.0
    return out


def to_csv(frame: pd.DataFrame) -> str:
    f = frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return f.to_csv(index=False, float_format="%.4f")


def lake_frame(root, dataset: str, order: list[str]) -> pd.DataFrame:
    table = lake.read_dataset(root.lake, dataset).to_pandas()
    return table.drop(columns=[c for c in ("date",) if c in table]).sort_values(order).reset_index(drop=True)


@pytest.fixture
def one_file_root(root):
    drop(root, "plant.csv", to_csv(plant()))
    summary = run_once(root, min_file_age_seconds=0)
    assert summary.success, summary.runs
    return root


def test_every_reading_is_scored_once_and_the_spike_is_alerted(one_file_root):
    root = one_file_root
    readings = lake.read_dataset(root.lake, "sensor_readings").num_rows
    scores = lake_frame(root, "anomaly_scores", ["equipment_id", "sensor_id", "timestamp"])
    assert len(scores) == readings == len(plant())
    assert scores["anomaly_score"].between(0, 1).all()
    spike = scores[(scores["timestamp"] == SPIKE_AT) & (scores["sensor_id"] == "vib")]
    assert spike["is_anomaly"].item() and spike["anomaly_score"].item() > 0.7
    alerts = lake_frame(root, "alerts", ["alert_id"])
    hit = alerts[(alerts["equipment_id"] == "pump-1") & (alerts["sensor_id"] == "vib") & (alerts["started_at"] <= SPIKE_AT)
                 & (alerts["ended_at"] >= SPIKE_AT)]
    assert len(hit) == 1
    assert hit["validation_status"].item() in ("credible", "needs_investigation", "suspected_false_positive")
    assert hit["validation_reasons"].item()
    # Clean noise raises few alerts: fewer than one per sensor-day.
    assert len(alerts) < 5 * 18


def test_models_are_weekly_and_causal(one_file_root):
    root = one_file_root
    models = sorted(p.name for p in (root.models / "detection").iterdir())
    assert models == ["week=2026-01-05.pkl", "week=2026-01-12.pkl", "week=2026-01-19.pkl"]
    from smart_maintenance import artifacts

    week3 = artifacts.load(root.models / "detection" / "week=2026-01-19.pkl")
    assert week3.train_end < pd.Timestamp("2026-01-19", tz="UTC")  # learns only from earlier weeks
    assert week3.n_readings > 0


def test_checks_on_scores_and_alerts_passed(one_file_root):
    with instance_for(one_file_root) as instance:
        import dagster as dg

        for asset, check in (("anomaly_scores", "scored_exactly_once"), ("anomaly_scores", "scores_in_range"),
                             ("alerts", "no_credible_alert_from_faulty_sensor")):
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
                [dg.AssetCheckKey(dg.AssetKey(asset), check)])
            (execution,) = record.values()
            assert execution.status.value == "SUCCEEDED", (asset, check)


def test_second_run_with_nothing_new_recomputes_nothing(one_file_root):
    summary = run_once(one_file_root, min_file_age_seconds=0)
    assert [step for step, _, _ in summary.runs] == ["ingest landing files"]


def test_micro_batches_give_the_same_scores_and_alerts_as_one_file(one_file_root, tmp_path):
    from smart_maintenance.config import DataRoot
    from smart_maintenance_tests.conftest import EQUIPMENT_CSV, SENSORS_CSV

    batched = DataRoot(tmp_path / "batched").ensure()
    (batched.reference / "equipment.csv").write_text(EQUIPMENT_CSV)
    (batched.reference / "sensors.csv").write_text(SENSORS_CSV)
    data = plant()
    cuts = [START + pd.Timedelta(days=d, hours=h) for d, h in ((0, 0), (6, 7), (9, 0), (16, 13), (18, 0))]
    for i, (lo, hi) in enumerate(zip(cuts, cuts[1:])):
        part = data[(data["timestamp"] >= lo) & (data["timestamp"] < hi)]
        drop(batched, f"batch-{i}.csv", to_csv(part))
        assert run_once(batched, min_file_age_seconds=0).success
    key = ["equipment_id", "sensor_id", "timestamp"]
    one, many = lake_frame(one_file_root, "anomaly_scores", key), lake_frame(batched, "anomaly_scores", key)
    pd.testing.assert_frame_equal(one, many)
    cols = ["alert_id", "started_at", "ended_at", "severity", "validation_status", "peak_score"]
    pd.testing.assert_frame_equal(lake_frame(one_file_root, "alerts", ["alert_id"])[cols],
                                  lake_frame(batched, "alerts", ["alert_id"])[cols])


def test_a_batch_extending_a_day_some_of_whose_sensors_are_short_of_history(tmp_path, monkeypatch):
    """The second batch extends day 9, where pump-1/temp already has a full scoring window of readings
    and the other sensors (a gap since 00:30) do not: only theirs come from the days before (History),
    from the nearest day first (fan-2/temp, silent on day 8, from the days before; pump-1/vib, short on
    day 8, from day 8 and day 7), and the scores equal those of the same readings arriving in one file."""
    from smart_maintenance.config import DataRoot
    from smart_maintenance.detection.config import DetectionConfig
    from smart_maintenance_tests.conftest import write_reference

    data = plant(days=10)
    day8, day9 = START + pd.Timedelta(days=8), START + pd.Timedelta(days=9)
    # On day 8, fan-2/temp is silent and pump-1/vib read only from 13:00 (66 readings, not a window): the
    # history of the first comes from the days before day 8, the second's from day 8 and day 7.
    on_day8 = (data["timestamp"] >= day8) & (data["timestamp"] < day9)
    silent = on_day8 & (data["equipment_id"] == "fan-2") & (data["sensor_id"] == "temp")
    morning = on_day8 & (data["timestamp"] < day8 + pd.Timedelta(hours=13)) & (data["equipment_id"] == "pump-1") & (data["sensor_id"] == "vib")
    data = data[~(silent | morning)].reset_index(drop=True)
    stamp = data["timestamp"]
    full_sensor = (data["equipment_id"] == "pump-1") & (data["sensor_id"] == "temp")
    first = data[(stamp < day9 + pd.Timedelta(minutes=30)) | (full_sensor & (stamp < day9 + pd.Timedelta(hours=23)))]
    second = data[stamp >= day9 + pd.Timedelta(hours=23)]
    on_day9 = first[first["timestamp"] >= day9].groupby(["equipment_id", "sensor_id"]).size()
    lookback = DetectionConfig().lookback_readings
    assert on_day9[("pump-1", "temp")] >= lookback and (on_day9.drop(("pump-1", "temp")) < lookback).all()
    from smart_maintenance.defs.detection import loading

    spared: list[set] = []  # the sensors whose history a read left out
    read = loading.read_readings

    def spy(*args, except_sensors=None, **kwargs):
        if except_sensors is not None:
            spared.append(set(zip(except_sensors["equipment_id"], except_sensors["sensor_id"])))
        return read(*args, except_sensors=except_sensors, **kwargs)

    monkeypatch.setattr(loading, "read_readings", spy)  # History's reads
    roots = {}
    for name, batches in (("two", [first, second]), ("one", [pd.concat([first, second])])):
        roots[name] = DataRoot(tmp_path / name).ensure()
        write_reference(roots[name].reference)
        for i, batch in enumerate(batches):
            drop(roots[name], f"batch-{i}.csv", to_csv(batch))
            assert run_once(roots[name], min_file_age_seconds=0).success
    key = ["equipment_id", "sensor_id", "timestamp"]
    two, one = lake_frame(roots["two"], "anomaly_scores", key), lake_frame(roots["one"], "anomaly_scores", key)
    assert len(two) == len(first) + len(second)
    pd.testing.assert_frame_equal(two, one)
    # The first batch of each root scored from day 0 on: its history spared no sensor. The second batch
    # took the incremental path, once: the day before (day 8) for every sensor but pump-1/temp, then the
    # days before that for the same sensors, none of them having a window on day 8.
    assert spared == [set(), {("pump-1", "temp")}, {("pump-1", "temp")}, set()]


def test_drift_check_lists_a_sensor_whose_distribution_moved(root):
    data = plant(days=21)
    late = (data["timestamp"] >= START + pd.Timedelta(days=14)) & (data["sensor_id"] == "temp") & (data["equipment_id"] == "fan-2")
    data.loc[late, "value"] += 6.0  # a recalibrated or relocated sensor: a new normal
    drop(root, "plant.csv", to_csv(data))
    summary = run_once(root, min_file_age_seconds=0)
    assert ("drift check", True) in [(step, ok) for step, ok, _ in summary.runs]
    with instance_for(root) as instance:
        import dagster as dg

        key = dg.AssetCheckKey(dg.AssetKey("anomaly_scores"), "sensor_drift")
        (execution,) = instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).values()
        evaluation = execution.event.dagster_event.event_specific_data
        assert not evaluation.passed
        assert evaluation.metadata["drifted_sensors"].value == 1
        assert "fan-2" in evaluation.metadata["drifted"].value and "temp" in evaluation.metadata["drifted"].value
