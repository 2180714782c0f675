"""Forecasting assets through the pipeline (`run_once`) on a small synthetic plant with degradations."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from smart_maintenance import lake
from smart_maintenance.runner import instance_for, run_once
from smart_maintenance.simulation import PlantSpec, simulate_plant

END = datetime(2026, 3, 2, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def plant_root(tmp_path_factory):
    from smart_maintenance.config import DataRoot

    root = DataRoot(tmp_path_factory.mktemp("forecast") / "data").ensure()
    simulate_plant(root.root, PlantSpec(end=END, days=10, n_equipment=6, interval_seconds=300, seed=11))
    summary = run_once(root, min_file_age_seconds=0)
    assert summary.success, summary.runs
    return root


def test_every_recent_equipment_has_a_forecast_with_sane_dates(plant_root):
    forecasts = lake.read_dataset(plant_root.lake, "failure_forecasts").to_pandas()
    latest = forecasts[forecasts["as_of"] == forecasts["as_of"].max()]
    equipment = set(pd.read_csv(plant_root.reference / "equipment.csv")["equipment_id"])
    assert set(latest["equipment_id"]) == equipment
    assert set(latest["method"]) <= {"trend_prophet", "learned_rul", "none"}
    dated = latest[~latest["beyond_horizon"]]
    assert (dated["predicted_failure_at"] > dated["as_of"]).all()
    assert (dated["predicted_failure_at"].dt.year > 2000).all()  # the old system's 1970 dates
    assert (dated["rul_lower_hours"] <= dated["rul_hours"]).all()
    beyond = latest[latest["beyond_horizon"]]
    assert beyond["predicted_failure_at"].isna().all() and beyond["rul_hours"].isna().all()


def test_forecasts_cover_the_latest_days_only_and_health_is_daily(plant_root):
    days = sorted(p.name for p in (plant_root.lake / "failure_forecasts").iterdir())
    assert days == ["date=2026-02-28", "date=2026-03-01", "date=2026-03-02"][-len(days):] and len(days) >= 2
    health = lake.read_dataset(plant_root.lake, "equipment_health").to_pandas()
    assert health["health"].between(0, 1).all() and len(health) > 0


def test_forecast_checks_passed_and_models_are_cached(plant_root):
    import dagster as dg

    with instance_for(plant_root) as instance:
        keys = [dg.AssetCheckKey(dg.AssetKey("failure_forecasts"), n)
                for n in ("forecast_for_every_recent_equipment", "intervals_ordered_and_in_the_future")]
        executions = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
        assert {k.name: e.status.value for k, e in executions.items()} == {k.name: "SUCCEEDED" for k in keys}
    cached = list((plant_root.models / "rul").glob("*.pkl"))
    assert 1 <= len(cached) <= 4  # one per distinct set of known failures, not one per day or batch
    summary = run_once(plant_root, min_file_age_seconds=0)
    assert [s for s, _, _ in summary.runs] == ["ingest landing files"]  # nothing new: nothing refitted


def test_only_equipment_with_new_data_is_reforecast(plant_root):
    from smart_maintenance_tests.conftest import drop

    before = lake.read_dataset(plant_root.lake, "failure_forecasts").to_pandas()
    last_day = before["as_of"].max()
    before = before[before["as_of"].dt.date == last_day.date()].set_index("equipment_id")
    one = sorted(before.index)[0]
    later = (last_day + pd.Timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    drop(plant_root, "late.csv", f"timestamp,equipment_id,sensor_id,value\n{later},{one},new_sensor,1.0\n")
    assert run_once(plant_root, min_file_age_seconds=0).success
    after = lake.read_dataset(plant_root.lake, "failure_forecasts").to_pandas()
    after = after[after["date"].astype(str) == str(last_day.date())].set_index("equipment_id")
    assert after.loc[one, "as_of"] == pd.Timestamp(later)  # re-forecast as of its new reading
    others = [e for e in before.index if e != one]
    pd.testing.assert_series_equal(after.loc[others, "as_of"], before.loc[others, "as_of"])  # untouched


def test_new_readings_alone_reuse_the_models(plant_root):
    from smart_maintenance_tests.conftest import drop

    models = sorted((plant_root.models / "rul").glob("*.pkl"))
    latest = lake.read_dataset(plant_root.lake, "sensor_readings").to_pandas()["timestamp"].max()
    later = (latest + pd.Timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    drop(plant_root, "later.csv", f"timestamp,equipment_id,sensor_id,value\n{later},CMP-003,current,96\n")
    assert run_once(plant_root, min_file_age_seconds=0).success
    with instance_for(plant_root) as instance:
        import dagster as dg

        (record,) = instance.fetch_materializations(dg.AssetKey("rul_models"), limit=1).records
        metadata = record.asset_materialization.metadata
    # Materialized for this batch (as of its reading), from the models already learned.
    assert metadata["as_of"].value == str(pd.Timestamp(later)) and metadata["refitted"].value is False
    assert sorted((plant_root.models / "rul").glob("*.pkl")) == models


def _write_day(root, day: str, minutes: int, seed: int) -> None:
    import numpy as np
    import pyarrow as pa

    from smart_maintenance import schemas

    times = pd.date_range(day, periods=minutes, freq="10min", tz="UTC")
    rng = np.random.default_rng(seed)
    frame = pd.concat([pd.DataFrame({"timestamp": times, "equipment_id": e, "sensor_id": s, "value": rng.normal(10, 1, minutes),
                                     "sensor_type": "generic"}) for e, s in (("pump-1", "temp"), ("pump-1", "vib"), ("fan-2", "temp"))])
    frame = frame.assign(unit="u", quality=1.0, reference_status="known", source_file="f.csv", file_sha256="x", ingested_at=times[0])
    lake.write_partition(root.lake, "sensor_readings", "date", day, pa.Table.from_pandas(frame, schema=schemas.SENSOR_READINGS, preserve_index=False))


def test_hourly_medians_read_again_only_the_days_that_changed(root, monkeypatch):
    from smart_maintenance.defs.forecasting import inputs

    for i, day in enumerate(("2026-02-27", "2026-02-28", "2026-03-01")):
        _write_day(root, day, 144, seed=i)
    read = []
    aggregate = inputs._aggregate
    monkeypatch.setattr(inputs, "_aggregate", lambda files, *a, **k: read.append([f.parent.name for f in files]) or aggregate(files, *a, **k))

    def check(days: int) -> list[list[str]]:
        read.clear()
        kept = inputs.hourly(root.lake, "2026-03-01", days, "1h")
        one_query = inputs.hourly(root.lake, "2026-03-01", days, "1h", reuse=False)
        pd.testing.assert_frame_equal(kept, one_query, check_exact=True)
        return read[:-1]  # the reads of the kept path (the last one is the reference's)

    assert check(3) == [["date=2026-02-27", "date=2026-02-28", "date=2026-03-01"]]  # one query for all
    assert check(3) == []  # nothing changed: nothing read
    _write_day(root, "2026-03-01", 150, seed=9)  # a micro-batch rewrites the latest day
    assert check(3) == [["date=2026-03-01"]]
    assert check(2) == []  # a shorter window of the same files
    assert len(inputs.hourly(root.lake, "2026-03-01", 3, "1h")) == 3 * 3 * 24 + 3  # 150 x 10 min: one more hour


def test_an_equipment_silent_all_day_keeps_its_forecast_row(root):
    """fan-2 is silent on the last day (stopped), read until the evening before: it was read within the
    `recent` window, so the day's forecasts have its row and the blocking check passes (it failed, and
    with it every step below forecasts, when only equipment read on the day itself were forecast)."""
    import dagster as dg
    import numpy as np

    from smart_maintenance_tests.conftest import drop

    times = pd.date_range("2026-02-26", "2026-03-01 23:50", freq="10min", tz="UTC")
    rng = np.random.default_rng(4)
    frame = pd.concat([pd.DataFrame({"timestamp": times, "equipment_id": e, "sensor_id": s, "value": base + rng.normal(0, 0.5, len(times))})
                       for e, s, base in (("pump-1", "temp", 60.0), ("pump-1", "vib", 3.0), ("fan-2", "temp", 55.0))])
    frame = frame[~((frame["equipment_id"] == "fan-2") & (frame["timestamp"] >= pd.Timestamp("2026-03-01", tz="UTC")))]
    drop(root, "plant.csv", frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(index=False))
    summary = run_once(root, min_file_age_seconds=0)
    assert summary.success, summary.runs
    forecasts = lake.read_dataset(root.lake, "failure_forecasts").to_pandas()
    last_day = forecasts[forecasts["date"].astype(str) == "2026-03-01"]
    assert sorted(last_day["equipment_id"]) == ["fan-2", "pump-1"]
    with instance_for(root) as instance:
        key = dg.AssetCheckKey(dg.AssetKey("failure_forecasts"), "forecast_for_every_recent_equipment")
        assert instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key].status.value == "SUCCEEDED"


def test_the_recent_window_counts_whole_bins_as_forecasts_do(root):
    """An equipment is in a day's forecasts when it has a reading in a bin of the recent window (the
    bins forecast_failures counts): a reading inside the bin the window starts in does not count."""
    import pyarrow as pa

    from smart_maintenance import schemas
    from smart_maintenance.defs.forecasting.assets import CONFIG, _newest_readings, first_recent_bin

    as_of = pd.Timestamp("2026-03-01 23:50", tz="UTC")
    first = first_recent_bin(as_of)
    assert first == (as_of - CONFIG.recent).floor("1h")  # 2 days back, the bin after the one it falls in
    stamps = {"pump-1": [as_of], "fan-2": [first - pd.Timedelta(minutes=5)], "fan-3": [first + pd.Timedelta(minutes=10)]}
    rows = pd.DataFrame([{"timestamp": t, "equipment_id": e, "sensor_id": "temp", "value": 1.0, "sensor_type": "generic"}
                         for e, ts in stamps.items() for t in ts])
    rows = rows.assign(unit="u", quality=1.0, reference_status="known", source_file="f.csv", file_sha256="x", ingested_at=as_of)
    for day, part in rows.groupby(rows["timestamp"].dt.date):
        lake.write_partition(root.lake, "sensor_readings", "date", str(day),
                             pa.Table.from_pandas(part, schema=schemas.SENSOR_READINGS, preserve_index=False))
    newest = _newest_readings(root, as_of)
    assert sorted(newest.index) == ["fan-3", "pump-1"]
    assert newest["fan-3"] == stamps["fan-3"][0]


def test_reference_tables_parsed_again_after_an_edit(root):
    from smart_maintenance.defs.forecasting import inputs

    sensors = inputs.reference(root.reference, "sensors")
    sensors.loc[0, "alarm_limit"] = -1.0  # a copy: the kept table is not changed
    assert inputs.reference(root.reference, "sensors")["alarm_limit"].tolist() == [90.0, 7.1, 80.0]
    path = root.reference / "sensors.csv"
    path.write_text(path.read_text().replace(",7.1\n", ",6.5\n"))
    assert inputs.reference(root.reference, "sensors")["alarm_limit"].tolist() == [90.0, 6.5, 80.0]
