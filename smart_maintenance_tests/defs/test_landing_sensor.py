"""The landing sensor with `build_sensor_context`: new files, files still growing, files handed out once,
re-dropped files, rejected files and failed runs."""

from __future__ import annotations

import json
import os
import time

import dagster as dg
import pytest

from smart_maintenance.defs.ingestion.sensors import landing_sensor, reference_sensor
from smart_maintenance.defs.resources import DataRootResource, IngestSettingsResource
from smart_maintenance_tests.conftest import drop

LONG = "timestamp,equipment_id,sensor_id,value\n2026-01-05T10:00:00Z,pump-1,temp,40.5\n"


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def tick(root, instance, cursor=None, settle=0.0, quiet=3600.0):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor,
        resources={"data_root": DataRootResource(home=str(root.root)),
                   "ingest_settings": IngestSettingsResource(settle_seconds=settle, quiet_seconds=quiet)},
    )
    result = landing_sensor(context)
    return result, result.cursor


def files_of(result) -> list[list[str]]:
    return [r.run_config["ops"]["ingest_landing_files"]["config"]["files"] for r in result.run_requests]


def test_new_file_is_launched_once_it_stopped_changing(root, instance):
    drop(root, "a.csv", LONG)
    first, cursor = tick(root, instance)
    assert first.run_requests == []  # first look: remember size and mtime
    second, cursor = tick(root, instance, cursor)
    assert files_of(second) == [["a.csv"]]
    third, _ = tick(root, instance, cursor)
    assert third.run_requests == []  # handed out already: never twice


def test_file_still_growing_is_not_launched(root, instance):
    path = drop(root, "a.csv", LONG)
    _, cursor = tick(root, instance)
    with open(path, "a") as fh:
        fh.write("2026-01-05T10:01:00Z,pump-1,temp,41\n")
    growing, cursor = tick(root, instance, cursor)
    assert growing.run_requests == []
    settled, _ = tick(root, instance, cursor)
    assert files_of(settled) == [["a.csv"]]


def test_recently_modified_file_waits_for_settle_time(root, instance):
    drop(root, "a.csv", LONG)
    _, cursor = tick(root, instance, settle=60)
    again, _ = tick(root, instance, cursor, settle=60)
    assert again.run_requests == []


def test_old_untouched_file_is_ready_on_first_sight(root, instance):
    path = drop(root, "a.csv", LONG)
    old = time.time() - 7200
    os.utime(path, (old, old))
    result, _ = tick(root, instance)
    assert files_of(result) == [["a.csv"]]


def test_files_settled_together_go_in_one_run(root, instance):
    for name in ("a.csv", "sub/b.csv", "sub/deeper/c.csv"):
        drop(root, name, LONG)
    _, cursor = tick(root, instance)
    result, _ = tick(root, instance, cursor)
    assert len(result.run_requests) == 1
    assert sorted(files_of(result)[0]) == ["a.csv", "sub/b.csv", "sub/deeper/c.csv"]


def test_file_dropped_again_after_archiving_is_handed_out_again(root, instance):
    path = drop(root, "a.csv", LONG)
    _, cursor = tick(root, instance)
    first, cursor = tick(root, instance, cursor)
    path.rename(root.archive / "a.csv")  # what the ingest run does
    _, cursor = tick(root, instance, cursor)
    assert "a.csv" not in json.loads(cursor)["launched"]
    drop(root, "a.csv", LONG)  # identical content, same name: the run will record it as a duplicate file
    _, cursor = tick(root, instance, cursor)
    again, _ = tick(root, instance, cursor)
    assert files_of(again) == [["a.csv"]]
    assert again.run_requests[0].run_key != first.run_requests[0].run_key


def test_symlink_is_handed_to_the_run_to_be_rejected(root, instance, tmp_path):
    target = tmp_path / "elsewhere.csv"
    target.write_text(LONG)
    (root.landing / "link.csv").symlink_to(target)
    result, _ = tick(root, instance)
    assert files_of(result) == [["link.csv"]]


def test_hidden_and_partial_files_are_ignored(root, instance):
    drop(root, ".hidden.csv", LONG)
    drop(root, "upload.csv.part", LONG)
    _, cursor = tick(root, instance)
    result, _ = tick(root, instance, cursor)
    assert result.run_requests == []


def test_rejected_file_end_to_end_through_the_job(root, instance):
    """The sensor hands a bad file to the job; the job rejects it and the next tick has nothing to do."""
    from smart_maintenance.definitions import defs

    drop(root, "bad.csv", b"")
    _, cursor = tick(root, instance)
    result, cursor = tick(root, instance, cursor)
    run_config = result.run_requests[0].run_config
    job = defs.resolve_job_def("ingest_landing")
    outcome = job.execute_in_process(run_config=run_config, instance=instance,
                                     resources={"data_root": DataRootResource(home=str(root.root))})
    assert outcome.success
    assert (root.rejected / "bad.csv.error.json").exists()
    after, _ = tick(root, instance, cursor)
    assert after.run_requests == []


def test_file_of_a_failed_run_is_handed_out_again(root, instance):
    drop(root, "a.csv", LONG)
    _, cursor = tick(root, instance)
    first, cursor = tick(root, instance, cursor)
    run_key = first.run_requests[0].run_key
    instance.create_run_for_job(
        dg.GraphDefinition(name="noop", node_defs=[]).to_job(), run_id=None,
        tags={"dagster/run_key": run_key}, status=dg.DagsterRunStatus.FAILURE)
    retry, _ = tick(root, instance, cursor)
    assert files_of(retry) == [["a.csv"]]


def test_reference_sensor_requests_refresh_when_a_file_changes(root, instance):
    def ref_tick(cursor):
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"data_root": DataRootResource(home=str(root.root))})
        result = reference_sensor(ctx)
        return result, result.cursor

    first, cursor = ref_tick(None)
    assert len(first.run_requests) == 1
    same, cursor = ref_tick(cursor)
    assert same.run_requests == []
    path = root.reference / "sensors.csv"
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    changed, _ = ref_tick(cursor)
    assert len(changed.run_requests) == 1
