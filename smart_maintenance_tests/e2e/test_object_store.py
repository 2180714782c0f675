"""The whole pipeline with its data root on S3-compatible storage (a real moto server) equals the same
pipeline on a local folder: same rows and values in every lake dataset, landing emptied into archive,
reports written, and nothing left behind on the local disk but scratch state."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from smart_maintenance import storage
from smart_maintenance_tests.e2e.object_store import s3_server
from smart_maintenance_tests.reliability.harness import CLI, NOW, base_env, copy_input, simulate

pytestmark = pytest.mark.timeout(900)

# Columns that name the run rather than describe the data: Dagster run ids differ between two runs (the
# ledger's `batch` partition is the run id of the ingest run).
RUN_SPECIFIC = {"run_id", "batch"}


def _run(home: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run([CLI, "run", "--home", home, "--now", NOW, "--min-file-age", "0"], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"run on {home} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _datasets(lake: Path) -> set[str]:
    return {p.name for p in lake.iterdir() if not p.name.startswith(".")} if lake.exists() else set()


def _rows(con: duckdb.DuckDBPyConnection, lake: Path, dataset: str) -> tuple[list[str], list[tuple]]:
    scan = f"read_parquet('{lake}/{dataset}/**/*.parquet', hive_partitioning=true, union_by_name=true)"
    columns = [c for c in con.sql(f"SELECT * FROM {scan} LIMIT 0").columns if c not in RUN_SPECIFIC]
    quoted = ", ".join(f'"{c}"' for c in columns)
    return columns, con.sql(f"SELECT {quoted} FROM {scan} ORDER BY ALL").fetchall()


def test_pipeline_on_object_storage_equals_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, local = tmp_path / "source", tmp_path / "local"
    # The embedded instance and locks of a remote root live in a local scratch folder: this test's own.
    env = base_env(tmp_path, SMART_MAINTENANCE_SCRATCH=str(tmp_path / "scratch"))
    monkeypatch.setenv("SMART_MAINTENANCE_SCRATCH", str(tmp_path / "scratch"))
    simulate(source, days=4, equipment=3, env=env)
    copy_input(source, local)

    with s3_server(tmp_path) as aws:
        for key, value in aws.items():
            monkeypatch.setenv(key, value)
        url = "s3://plant-data/site-a"
        remote = storage.location(url)
        remote.fs.put(str(source / "landing"), f"{remote.path}/landing", recursive=True)
        remote.fs.put(str(source / "reference"), f"{remote.path}/reference", recursive=True)
        landed = sorted(p.relative_to(source / "landing").as_posix() for p in (source / "landing").rglob("*") if p.is_file())
        assert landed, "the simulator wrote no landing files"

        remote_out = _run(url, {**env, **aws}, tmp_path)
        _run(str(local), env, tmp_path)

        # landing/ was claimed and emptied on the object store; every file sits in archive/ there.
        assert [o for o in remote.fs.find(f"{remote.path}/landing")] == []
        archived = sorted(k.removeprefix(f"{remote.path}/archive/") for k in remote.fs.find(f"{remote.path}/archive"))
        assert archived == landed
        assert remote.fs.find(f"{remote.path}/reports/daily"), "no daily report was written to the object store"
        assert "lake: s3://plant-data/site-a/lake" in remote_out

        # Every lake dataset: the same rows, with the same values, as the local-folder run.
        con = storage.register(duckdb.connect())
        con.execute("SET TimeZone='UTC'")
        remote_lake, local_lake = remote / "lake", local / "lake"
        names = _datasets(local_lake)
        assert {"sensor_readings", "anomaly_scores", "alerts", "failure_forecasts", "maintenance_requests"} <= names
        assert _datasets(remote_lake) == names
        differences = {}
        for dataset in sorted(names):
            local_cols, local_rows = _rows(con, local_lake, dataset)
            remote_cols, remote_rows = _rows(con, remote_lake, dataset)
            if remote_cols != local_cols:
                differences[dataset] = f"columns {remote_cols} vs {local_cols}"
            elif remote_rows != local_rows:
                first = next((i for i, (a, b) in enumerate(zip(remote_rows, local_rows)) if a != b), None)
                differences[dataset] = (f"{len(remote_rows)} rows vs {len(local_rows)} locally; first difference: "
                                        f"{remote_rows[first] if first is not None else None} vs "
                                        f"{local_rows[first] if first is not None else None}")
        assert differences == {}

    # Nothing of the data landed on the local disk: only scratch state (locks, the embedded instance).
    scratch = storage.scratch_dir(remote, ".dagster").parent
    assert not any(p.suffix == ".parquet" for p in scratch.rglob("*")), "lake files were written locally"


def test_sensors_list_and_claim_objects_on_object_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The landing sensor sees objects under landing/ (not hidden or half-uploaded ones), waits for them to
    settle, hands each out once; the reference sensor notices a changed CSV object."""
    import dagster as dg

    from smart_maintenance.defs.ingestion.sensors import landing_sensor, reference_sensor
    from smart_maintenance.defs.resources import DataRootResource, IngestSettingsResource

    monkeypatch.setenv("SMART_MAINTENANCE_SCRATCH", str(tmp_path / "scratch"))
    with s3_server(tmp_path) as aws, dg.instance_for_test() as instance:
        for key, value in aws.items():
            monkeypatch.setenv(key, value)
        url = "s3://plant-data/site-b"
        remote = storage.location(url)
        (remote / "landing" / "line-1" / "a.csv").write_text("timestamp,equipment_id,sensor_id,value\n")
        (remote / "landing" / ".staging.csv").write_text("hidden\n")
        (remote / "landing" / "b.csv.part").write_text("still uploading\n")
        resources = {"data_root": DataRootResource(home=url),
                     "ingest_settings": IngestSettingsResource(settle_seconds=0.0, quiet_seconds=3600.0)}

        def tick(sensor, cursor):
            result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))
            return result, result.cursor

        first, cursor = tick(landing_sensor, None)
        assert first.run_requests == []  # first look: remember size and modification time
        second, cursor = tick(landing_sensor, cursor)
        assert [r.run_config["ops"]["ingest_landing_files"]["config"]["files"] for r in second.run_requests] == [["line-1/a.csv"]]
        third, _ = tick(landing_sensor, cursor)
        assert third.run_requests == []  # handed out once

        (remote / "reference" / "equipment.csv").write_text("equipment_id\npump-1\n")
        seen, cursor = tick(reference_sensor, None)
        assert len(seen.run_requests) == 1
        same, cursor = tick(reference_sensor, cursor)
        assert same.run_requests == []
        time.sleep(1.1)  # object stores keep modification times to the second
        (remote / "reference" / "equipment.csv").write_text("equipment_id\npump-1\npump-2\n")
        changed, _ = tick(reference_sensor, cursor)
        assert len(changed.run_requests) == 1
