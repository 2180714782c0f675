"""A micro-batch scored and alerted by the run that ingested it (defs/detection/inline.py): the same
scores and alerts as the three runs of the automation's path, reported as those assets' events, and
left to the automation whenever the week's model is missing or made stale by the batch."""

from __future__ import annotations

import shutil
from datetime import timedelta

import dagster as dg

from smart_maintenance import lake
from smart_maintenance.benchmarking.pipeline import END, plant
from smart_maintenance.config import DataRoot
from smart_maintenance.definitions import build_defs
from smart_maintenance.runner import instance_for, run_once
from smart_maintenance_tests.defs.conftest import N_EQUIPMENT, dataset


def ingest(root: DataRoot, detect: bool):
    defs = build_defs(str(root.root))
    config = {"files": [], "min_file_age_seconds": 0, "detect": detect}
    with instance_for(root) as instance:
        result = defs.resolve_job_def("ingest_landing").execute_in_process(
            run_config={"ops": {"ingest_landing_files": {"config": config}}}, instance=instance)
        events = result.asset_materializations_for_node("ingest_landing_files")
        checks = {(e.asset_key.to_user_string(), e.check_name, e.passed) for e in result.get_asset_check_evaluations()}
        result.logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return result, events, checks


def test_the_ingest_run_scores_and_alerts_as_the_automation_would(scored_plant, tmp_path):
    inline, automated = DataRoot(tmp_path / "inline"), DataRoot(tmp_path / "automated")
    shutil.copytree(scored_plant, inline.root)
    shutil.copytree(scored_plant, automated.root)
    last_day = END.date().isoformat()
    rows_before = len(lake.read_table(lake.partition_file(inline.lake, "anomaly_scores", "date", last_day)))

    result, events, checks = ingest(inline.ensure(), detect=True)
    assert result.success
    by_asset = {}
    for e in events:
        by_asset.setdefault(e.asset_key.to_user_string(), []).append(e)
    assert [e.partition for e in by_asset["sensor_readings"]] == [last_day]
    assert [e.partition for e in by_asset["anomaly_scores"]] == [last_day]
    assert len(by_asset["alerts"]) == 1 and by_asset["alerts"][0].metadata["inline"].value is True
    assert {("anomaly_scores", "scored_exactly_once", True), ("anomaly_scores", "scores_in_range", True),
            ("alerts", "no_credible_alert_from_faulty_sensor", True)} <= checks
    # Nothing left for the rest of the one-shot run to detect.
    summary = run_once(inline, min_file_age_seconds=0)
    assert summary.success
    assert not [step for step, _, _ in summary.runs if step.startswith(("anomaly scores", "alerts", "detection models"))]
    # Nor a drift check: its windows end on the same newest day as at its last evaluation.
    assert "drift check" not in [step for step, _, _ in summary.runs]

    # The automation's path: ingest only, then the assets' own runs.
    result, events, _ = ingest(automated.ensure(), detect=False)
    assert {e.asset_key.to_user_string() for e in events} == {"sensor_readings", "ingested_files", "quarantine"}
    summary = run_once(automated, min_file_age_seconds=0)
    assert [step for step, _, _ in summary.runs if step.startswith(("anomaly scores", "alerts"))] == \
        ["anomaly scores (1 range)", "alerts"]

    scores = dataset(inline, "anomaly_scores")
    assert len(scores[scores["date"].astype(str) == last_day]) > rows_before  # the batch was scored
    assert scores.equals(dataset(automated, "anomaly_scores"))
    assert dataset(inline, "alerts").equals(dataset(automated, "alerts"))


def test_a_week_without_its_model_is_left_to_the_automation(tmp_path):
    """A first batch: no weekly model yet, so the ingest run only ingests (the model sensor fits it)."""
    root = DataRoot(tmp_path / "plant")
    plant(root.root, 300, N_EQUIPMENT)
    shutil.rmtree(root.landing / "maintenance")  # readings only: a batch with maintenance events is never scored inline
    result, events, _ = ingest(root.ensure(), detect=True)
    assert result.success
    assert {e.asset_key.to_user_string() for e in events} == {"sensor_readings", "ingested_files", "quarantine"}
    assert not lake.has_data(root.lake, "anomaly_scores") and not lake.has_data(root.lake, "alerts")


def test_a_batch_in_the_models_training_weeks_is_left_to_the_automation(scored_plant, tmp_path):
    """Late readings of an earlier week make this week's model stale: scoring the batch's current day
    with it would be wasted (the model sensor refits it, then the automation scores)."""
    root = DataRoot(tmp_path / "late")
    shutil.copytree(scored_plant, root.root)
    equipment_id, sensor_id = lake.connect().execute(
        f"SELECT equipment_id, sensor_id FROM {lake.scan_sql(root.lake, 'sensor_readings')} LIMIT 1").fetchone()
    late = END - timedelta(days=8)
    (root.landing / "late.csv").write_text("timestamp,equipment_id,sensor_id,value\n" + "".join(
        f"{(late + timedelta(minutes=i)).isoformat()},{equipment_id},{sensor_id},1.0\n" for i in range(3)))
    result, events, _ = ingest(root.ensure(), detect=True)
    assert result.success
    readings = [e.partition for e in events if e.asset_key == dg.AssetKey("sensor_readings")]
    assert readings == [late.date().isoformat(), END.date().isoformat()]
    assert not [e for e in events if e.asset_key.to_user_string() in ("anomaly_scores", "alerts")]


def test_an_error_in_inline_detection_loses_nothing(scored_plant, tmp_path):
    """A failure while scoring inline is logged; the batch is ingested and announced, the automation scores it."""
    root = DataRoot(tmp_path / "broken")
    shutil.copytree(scored_plant, root.root)
    for model in (root.models / "detection").glob("week=*.pkl"):
        model.write_bytes(b"not a pickle")
    result, events, _ = ingest(root.ensure(), detect=True)
    assert result.success
    assert {e.asset_key.to_user_string() for e in events} == {"sensor_readings", "ingested_files", "quarantine"}
    assert [m for m in result.logs if "Inline detection failed" in m and "UnpicklingError" in m]
    assert not (root.landing / "next.csv").exists()
