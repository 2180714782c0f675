"""Baseline resets through the real pipeline (`run_once`, issue 5): after a repair event the detector
learns the equipment's new normal instead of alerting on it for days, a later fault is still alerted,
and a repair event that arrives after its days were scored makes them stale: the result is the same as
when the event came with the readings."""

import pandas as pd
import pytest

from smart_maintenance.config import DataRoot
from smart_maintenance.runner import instance_for, run_once
from smart_maintenance_tests.conftest import EQUIPMENT_CSV, SENSORS_CSV, TECHNICIANS_CSV, drop
from smart_maintenance_tests.defs.test_detection_assets import SPIKE_AT, START, lake_frame, plant, to_csv

REPAIR_AT = START + pd.Timedelta(days=9, hours=12)  # Wednesday of the second week (models are weekly)
WARMED_UP = REPAIR_AT + pd.Timedelta(minutes=10 * 100)  # 100 readings every 10 minutes
EVENT_CSV = f"equipment_id,timestamp,event_type,notes\npump-1,{REPAIR_AT:%Y-%m-%dT%H:%M:%SZ},corrective_repair,replaced bearing\n"
KEY = ["equipment_id", "sensor_id", "timestamp"]


def repaired_plant() -> pd.DataFrame:
    """The two-pump plant whose pump-1 settles at a new normal after the repair (and still spikes later)."""
    data = plant()
    after = (data["equipment_id"] == "pump-1") & (data["timestamp"] >= REPAIR_AT)
    data.loc[after & (data["sensor_id"] == "temp"), "value"] += 12.0  # 6 sigmas of its daily cycle
    return data


def fresh_root(path) -> DataRoot:
    root = DataRoot(path).ensure()
    (root.reference / "equipment.csv").write_text(EQUIPMENT_CSV)
    (root.reference / "sensors.csv").write_text(SENSORS_CSV)
    (root.reference / "technicians.csv").write_text(TECHNICIANS_CSV)
    return root


def run(root: DataRoot, files: dict[str, str]) -> None:
    for name, content in files.items():
        drop(root, name, content)
    summary = run_once(root, min_file_age_seconds=0)
    assert summary.success, summary.runs


def new_normal_alerts(root: DataRoot) -> pd.DataFrame:
    """pump-1 alerts after the warm-up, other than those of the later spike (and of its fall)."""
    alerts = lake_frame(root, "alerts", ["alert_id"])
    mine = alerts[(alerts["equipment_id"] == "pump-1") & (alerts["ended_at"] >= WARMED_UP)]
    spike = (mine["sensor_id"] == "vib") & mine["started_at"].between(SPIKE_AT, SPIKE_AT + pd.Timedelta(minutes=10))
    return mine[~spike]


@pytest.fixture(scope="module")
def with_event(tmp_path_factory):
    root = fresh_root(tmp_path_factory.mktemp("with-event") / "data")
    run(root, {"plant.csv": to_csv(repaired_plant()), "maintenance/log.csv": EVENT_CSV})
    return root


def test_without_the_repair_event_the_new_normal_keeps_alerting(tmp_path):
    root = fresh_root(tmp_path / "data")
    run(root, {"plant.csv": to_csv(repaired_plant())})
    stale = new_normal_alerts(root)  # readings every 10 minutes: each anomalous reading is an episode
    assert len(stale) > 500 and (stale["ended_at"].max() - REPAIR_AT) > pd.Timedelta(days=4)
    assert set(stale["sensor_id"]) == {"temp"}


def test_with_it_the_new_normal_is_learned_and_the_later_fault_still_alerts(with_event):
    assert len(new_normal_alerts(with_event)) == 0
    alerts = lake_frame(with_event, "alerts", ["alert_id"])
    spike = alerts[
        (alerts["sensor_id"] == "vib") & (alerts["started_at"] <= SPIKE_AT) & (alerts["ended_at"] >= SPIKE_AT)
    ]
    assert len(spike) == 1
    assert not (
        (alerts["equipment_id"] == "pump-1")
        & (alerts["started_at"].between(REPAIR_AT, WARMED_UP))
        & (alerts["validation_status"] == "credible")
    ).any()
    from smart_maintenance import artifacts

    week3 = artifacts.load(with_event.models / "detection" / "week=2026-01-19.pkl")  # trained across the repair
    fitted = week3.baselines.set_index(["equipment_id", "sensor_id"])
    assert fitted.loc[("pump-1", "temp"), "first_timestamp"] >= REPAIR_AT  # ...on the new normal only
    assert fitted.loc[("fan-2", "temp"), "first_timestamp"] < REPAIR_AT
    scores = lake_frame(with_event, "anomaly_scores", KEY)
    assert len(scores) == len(repaired_plant())


def test_a_late_repair_event_makes_its_days_stale_and_gives_the_same_result(with_event, tmp_path):
    root = fresh_root(tmp_path / "late")
    data = repaired_plant()
    cut = START + pd.Timedelta(days=11, hours=5)  # the readings of the repair, scored before the event is known
    run(root, {"first.csv": to_csv(data[data["timestamp"] < cut])})
    assert len(new_normal_alerts(root)) > 0  # the new normal alerts: nobody said there was a repair
    run(root, {"maintenance/log.csv": EVENT_CSV, "second.csv": to_csv(data[data["timestamp"] >= cut])})

    with instance_for(root) as instance:
        from smart_maintenance.defs.detection.sensors import models_to_fit

        assert models_to_fit(instance) == []  # nothing left to refit
    pd.testing.assert_frame_equal(
        lake_frame(with_event, "anomaly_scores", KEY), lake_frame(root, "anomaly_scores", KEY)
    )
    cols = ["alert_id", "started_at", "ended_at", "severity", "validation_status", "peak_score"]
    pd.testing.assert_frame_equal(
        lake_frame(with_event, "alerts", ["alert_id"])[cols], lake_frame(root, "alerts", ["alert_id"])[cols]
    )


def test_the_event_alone_refits_the_weeks_it_concerns(tmp_path):
    import dagster as dg

    root = fresh_root(tmp_path / "data")
    run(root, {"plant.csv": to_csv(repaired_plant())})
    with instance_for(root) as instance:
        before = instance.fetch_materializations(dg.AssetKey("detection_models"), limit=1).records[0].storage_id
    drop(root, "maintenance/log.csv", EVENT_CSV)
    summary = run_once(root, min_file_age_seconds=0)
    assert summary.success
    steps = [step for step, _, _ in summary.runs]
    assert "detection models (1 range)" in steps and "anomaly scores (1 range)" in steps
    with instance_for(root) as instance:
        records = instance.fetch_materializations(dg.AssetKey("detection_models"), limit=100).records
        refitted = {r.partition_key for r in records if r.storage_id > before}
    assert refitted == {"2026-01-12", "2026-01-19"}  # the repair's week and the week trained across it
    assert len(new_normal_alerts(root)) == 0


def test_the_model_sensor_asks_for_the_weeks_a_new_repair_event_concerns(tmp_path):
    import dagster as dg

    from smart_maintenance.definitions import build_defs
    from smart_maintenance.defs.detection.resources import DetectionResource
    from smart_maintenance.defs.detection.sensors import RANGE_END, RANGE_START, model_sensor
    from smart_maintenance.defs.resources import DataRootResource

    root = fresh_root(tmp_path / "data")
    run(root, {"plant.csv": to_csv(repaired_plant())})
    drop(root, "maintenance/log.csv", EVENT_CSV)
    ingest = {"ops": {"ingest_landing_files": {"config": {"files": [], "min_file_age_seconds": 0, "now": ""}}}}
    with instance_for(root) as instance:
        assert (
            build_defs(str(root.root))
            .resolve_job_def("ingest_landing")
            .execute_in_process(ingest, instance=instance)
            .success
        )
        resources = {"data_root": DataRootResource(home=str(root.root)), "detection": DetectionResource()}
        result = model_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in result.run_requests] == [("2026-01-12", "2026-01-19")]


def test_the_first_readings_after_every_reset_come_from_one_query(with_event):
    """first_readings_after reads all resets at once (issue 8): the readings the query per reset read, the
    lake's days up to `last_day` only: a sensor's own reset and its equipment's, one whose first readings
    cross `last_day`, one after it, one without readings."""
    from smart_maintenance.defs.detection.loading import first_readings_after
    from smart_maintenance.detection.config import DetectionConfig
    from smart_maintenance.detection.resets import RESET_COLUMNS

    config = DetectionConfig()
    at = lambda days, hours=0: REPAIR_AT + pd.Timedelta(days=days, hours=hours)  # noqa: E731
    resets = pd.DataFrame(
        [("pump-1", None, at(0), "corrective_repair"), ("fan-2", "temp", at(-1, 3), "replacement"),
         ("fan-2", None, at(4, 20), "corrective_repair"), ("pump-1", "vib", at(5, 22), "replacement"),
         ("pump-1", "temp", at(30), "replacement"), ("pump-3", None, at(1), "corrective_repair")],
        columns=RESET_COLUMNS,
    )
    resets["reset_at"] = resets["reset_at"].dt.as_unit("us")
    last_day = at(6).date().isoformat()  # the first readings after the vib replacement cross it
    for columns in (None, ["timestamp", "equipment_id", "sensor_id"]):
        got = first_readings_after(with_event, resets, last_day, config, *([columns] if columns else []))
        expected = reference_first_readings_after(with_event, resets, last_day, config)
        expected = expected[[*(columns or expected.columns[:-1]), "reset_at"]]
        order = lambda f: f.sort_values(["reset_at", "sensor_id", "timestamp"]).reset_index(drop=True)  # noqa: E731
        pd.testing.assert_frame_equal(order(got), order(expected))
    counts = got.groupby(["equipment_id", "reset_at"]).size()
    n = config.resets.readings
    assert counts[("pump-1", at(0))] == 2 * n and counts[("fan-2", at(4, 20))] == counts[("fan-2", at(-1, 3))] == n  # fan-2: temp only
    assert 0 < counts[("pump-1", at(5, 22))] < n and ("pump-1", at(30)) not in counts and "pump-3" not in counts


def reference_first_readings_after(root, resets, last_day, config):
    """first_readings_after before issue 8, one query per reset, copied as it was."""
    from datetime import date, timedelta

    from smart_maintenance import lake
    from smart_maintenance.defs.detection.loading import READING_COLUMNS, empty_readings

    cfg, parts = config.resets, []
    con = lake.connect()
    for reset in resets.itertuples(index=False):
        end = reset.reset_at + cfg.max_duration
        first, last = reset.reset_at.date(), min(end.date(), date.fromisoformat(last_day))
        days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        files = lake.partition_files(root.lake, "sensor_readings", "date", days)
        if not files:
            continue
        own = isinstance(reset.sensor_id, str)
        sql = (
            f"SELECT {', '.join(READING_COLUMNS)} FROM {lake.files_sql(files)} "
            f"WHERE equipment_id = ? AND timestamp >= ? AND timestamp < ?{' AND sensor_id = ?' if own else ''} "
            f"QUALIFY row_number() OVER (PARTITION BY sensor_id ORDER BY timestamp) <= {cfg.readings}"
        )
        params = [reset.equipment_id, reset.reset_at.to_pydatetime(), end.to_pydatetime()] + ([reset.sensor_id] if own else [])
        found = con.sql(sql, params=params).df()
        if len(found):
            parts.append(found.assign(reset_at=reset.reset_at))
    con.close()
    if not parts:
        return empty_readings().assign(reset_at=pd.Series(dtype="datetime64[us, UTC]"))
    out = pd.concat(parts, ignore_index=True)
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).dt.as_unit("us")
    for col in ("equipment_id", "sensor_id"):
        out[col] = out[col].astype(object)
    return out
