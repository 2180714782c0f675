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
