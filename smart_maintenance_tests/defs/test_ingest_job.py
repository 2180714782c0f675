"""The ingest job and reference assets run in process on a temp data root and instance: what lands in
the lake, which partitions are reported materialized, and what the checks say."""

from __future__ import annotations

import os
import time

import dagster as dg
import pytest

from smart_maintenance import lake
from smart_maintenance.definitions import defs
from smart_maintenance.defs.ingestion.assets import reference_data
from smart_maintenance.defs.ingestion.schedules import micro_batch_schedule
from smart_maintenance.defs.resources import DataRootResource, IngestSettingsResource
from smart_maintenance_tests.conftest import NOW, drop, readings

CSV = """timestamp,equipment_id,sensor_id,value
2026-01-05T10:00:00Z,pump-1,temp,40.5
2026-01-06T10:00:00Z,pump-1,temp,41.5
2026-01-06T10:01:00Z,pump-1,temp,N/A
"""


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def run_ingest(root, instance, **config):
    config.setdefault("now", NOW.isoformat())
    return defs.resolve_job_def("ingest_landing").execute_in_process(
        run_config={"ops": {"ingest_landing_files": {"config": config}}}, instance=instance,
        resources={"data_root": DataRootResource(home=str(root.root))})


def materialized_partitions(instance, key: str) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey(key)))


def test_job_ingests_listed_files_and_reports_touched_partitions(root, instance):
    drop(root, "a.csv", CSV)
    result = run_ingest(root, instance, files=["a.csv"])
    assert result.success
    assert readings(root) == [("pump-1", "temp", "2026-01-05T10:00:00+00:00", 40.5),
                              ("pump-1", "temp", "2026-01-06T10:00:00+00:00", 41.5)]
    assert materialized_partitions(instance, "sensor_readings") == {"2026-01-05", "2026-01-06"}
    mats = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("ingest_landing_files")}
    assert mats == {"sensor_readings", "quarantine", "ingested_files"}
    checks = {(e.check_name, e.passed) for e in result.get_asset_check_evaluations()}
    assert {("rows_conserved", True), ("readings_schema", True), ("readings_keys_unique", True),
            ("readings_values_in_range", True)} <= checks
    ledger = [m for m in result.asset_materializations_for_node("ingest_landing_files")
              if m.asset_key == dg.AssetKey("ingested_files")][0]
    assert ledger.metadata["rows_read"].value == 3 and ledger.metadata["rows_quarantined"].value == 1


def test_second_batch_reports_only_the_partitions_it_touched(root, instance):
    drop(root, "a.csv", CSV)
    run_ingest(root, instance, files=["a.csv"])
    drop(root, "b.csv", "timestamp,equipment_id,sensor_id,value\n2026-01-07T00:00:00Z,pump-1,temp,1\n")
    result = run_ingest(root, instance, files=["b.csv"])
    reported = {m.partition for m in result.asset_materializations_for_node("ingest_landing_files")
                if m.asset_key == dg.AssetKey("sensor_readings")}
    assert reported == {"2026-01-07"}


def test_job_without_file_list_takes_pending_files_old_enough(root, instance):
    old = drop(root, "old.csv", CSV)
    os.utime(old, (time.time() - 120,) * 2)
    drop(root, "new.csv", CSV.replace("40.5", "1"))
    run_ingest(root, instance, min_file_age_seconds=60)
    assert (root.archive / "old.csv").exists() and (root.landing / "new.csv").exists()


def test_failing_file_does_not_fail_the_run(root, instance):
    drop(root, "a.csv", b"\x00\x01binary")
    result = run_ingest(root, instance, files=["a.csv"])
    assert result.success and (root.rejected / "a.csv.error.json").exists()


def test_reference_assets_copy_csvs_into_the_lake(root, instance):
    result = dg.materialize([reference_data], instance=instance,
                            resources={"data_root": DataRootResource(home=str(root.root))})
    assert result.success
    sensors = lake.read_dataset(root.lake, "sensors").to_pylist()
    assert {(s["equipment_id"], s["sensor_id"], s["valid_max"]) for s in sensors} == {
        ("pump-1", "temp", 150.0), ("pump-1", "vib", 50.0), ("fan-2", "temp", 150.0)}
    mats = result.asset_materializations_for_node("reference_data")
    assert {m.asset_key.to_user_string(): m.metadata["dagster/row_count"].value for m in mats} == {
        "equipment": 2, "sensors": 3, "technicians": 1}


def test_schedule_skips_when_landing_is_empty_and_requests_a_run_otherwise(root, instance):
    resources = {"data_root": DataRootResource(home=str(root.root)), "ingest_settings": IngestSettingsResource(quiet_seconds=0)}
    ctx = dg.build_schedule_context(instance=instance, resources=resources, scheduled_execution_time=NOW)
    assert isinstance(micro_batch_schedule(ctx), dg.SkipReason)
    drop(root, "a.csv", CSV)
    request = micro_batch_schedule(dg.build_schedule_context(instance=instance, resources=resources,
                                                             scheduled_execution_time=NOW))
    assert isinstance(request, dg.RunRequest)
    assert request.run_config["ops"]["ingest_landing_files"]["config"] == {"min_file_age_seconds": 0}


def test_definitions_load_with_sensors_running_by_default():
    sensors = {s.name: s for s in defs.sensors}
    assert sensors["landing_sensor"].default_status == dg.DefaultSensorStatus.RUNNING
    assert sensors["landing_sensor"].minimum_interval_seconds <= 15
    assert sensors["reference_sensor"].default_status == dg.DefaultSensorStatus.RUNNING


def test_partitions_of_a_batch_whose_run_died_are_announced_by_the_next_run(root, instance):
    """The lake holds a batch Dagster never recorded (its run died after writing): the next ingest run
    announces those partitions, so downstream assets compute them; announced once, not again."""
    from datetime import datetime, timezone

    from smart_maintenance.ingest.batch import ingest_batch

    drop(root, "a.csv", CSV)
    dead = instance.create_run_for_job(dg.GraphDefinition(name="noop", node_defs=[]).to_job(),
                                       status=dg.DagsterRunStatus.FAILURE)
    ingest_batch(root, ["a.csv"], now=datetime.now(timezone.utc), batch_id=dead.run_id, run_id=dead.run_id)
    assert materialized_partitions(instance, "sensor_readings") == set()  # Dagster never heard of them
    result = run_ingest(root, instance, files=[], now="")
    assert materialized_partitions(instance, "sensor_readings") == {"2026-01-05", "2026-01-06"}
    again = run_ingest(root, instance, files=[], now="")
    reported = [m for m in again.asset_materializations_for_node("ingest_landing_files") if m.asset_key == dg.AssetKey("sensor_readings")]
    assert result.success and reported == []
