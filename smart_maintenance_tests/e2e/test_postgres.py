"""The shipped production instance config (`dagster.yaml`, PostgreSQL) against a real PostgreSQL.

The test copies the repository's own `dagster.yaml` unchanged: what is tested is the file users run
with, including that its settings come from the SMART_MAINTENANCE_PG_* variables and that the
password stays out of what Dagster stores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import psycopg2
import pytest

from smart_maintenance_tests.e2e.servers import REPO_ROOT, VENV_BIN, postgres_server

pytestmark = pytest.mark.e2e

DAYS = ["2026-05-10", "2026-05-11"]
READINGS = """\
timestamp,equipment_id,sensor_id,value
2026-05-10T22:00:00Z,FAN-07,SPEED-1,1480.5
2026-05-10T23:00:00Z,FAN-07,SPEED-1,1481.0
2026-05-11T00:00:00Z,FAN-07,SPEED-1,1479.25
2026-05-10T22:00:00Z,FAN-07,TEMP-1,41.5
2026-05-11T00:00:00Z,FAN-07,TEMP-1,42.0
"""
REFERENCE = {
    "equipment.csv": "equipment_id,site,type,criticality\nFAN-07,plant-b,fan,medium\n",
    "sensors.csv": ("equipment_id,sensor_id,sensor_type,unit,valid_min,valid_max,alarm_limit\n"
                    "FAN-07,SPEED-1,speed,rpm,0,3000,1800\nFAN-07,TEMP-1,temperature,degC,-20,120,80\n"),
}


@pytest.fixture
def postgres(tmp_path: Path):
    with postgres_server(tmp_path) as settings:
        yield settings


def test_run_stores_runs_and_events_in_postgres_with_the_shipped_config(postgres: dict, tmp_path: Path) -> None:
    data_root, dagster_home = tmp_path / "data", tmp_path / "dagster_home"
    (data_root / "landing").mkdir(parents=True)
    (data_root / "reference").mkdir()
    for name, text in REFERENCE.items():
        (data_root / "reference" / name).write_text(text)
    landed = data_root / "landing" / "fan.csv"
    landed.write_text(READINGS)
    an_hour_ago = time.time() - 3600  # written a while ago: ready for a one-shot run at once
    os.utime(landed, (an_hour_ago, an_hour_ago))
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMART_MAINTENANCE_", "DAGSTER_"))}
    env |= {"DAGSTER_HOME": str(dagster_home), "MPLCONFIGDIR": str(tmp_path / "mpl"),
            "SMART_MAINTENANCE_PG_HOST": postgres["host"], "SMART_MAINTENANCE_PG_PORT": str(postgres["port"]),
            "SMART_MAINTENANCE_PG_DB": postgres["db"], "SMART_MAINTENANCE_PG_USER": postgres["user"],
            "SMART_MAINTENANCE_PG_PASSWORD": postgres["password"]}
    started = time.perf_counter()
    done = subprocess.run([str(VENV_BIN / "smart-maintenance"), "run", "--home", str(data_root)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    print(f"\nsmart-maintenance run: exit {done.returncode} in {time.perf_counter() - started:.1f} s\n{done.stdout}")
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "files: 1 ingested" in done.stdout

    # The pipeline did its work...
    con = duckdb.connect()
    (rows,) = con.execute(f"SELECT count(*) FROM read_parquet('{data_root}/lake/sensor_readings/**/*.parquet')").fetchone()
    assert rows == 5
    # ...and recorded it in PostgreSQL, not in the embedded SQLite instance of the data root.
    assert not (data_root / ".dagster").exists()

    with psycopg2.connect(host=postgres["host"], port=postgres["port"], dbname=postgres["db"],
                          user=postgres["user"], password=postgres["password"]) as pg, pg.cursor() as cur:
        cur.execute("SELECT run_id, status FROM runs WHERE pipeline_name = 'ingest_landing'")
        ((run_id, status),) = cur.fetchall()
        assert status == "SUCCESS"

        cur.execute("SELECT partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
                    "AND asset_key = %s AND run_id = %s ORDER BY partition", ['["sensor_readings"]', run_id])
        assert [p for (p,) in cur.fetchall()] == DAYS

        # Planted secret: the password is in the environment of the run, it must not be in the event log.
        cur.execute("SELECT count(*), count(*) FILTER (WHERE strpos(event, %s) > 0) FROM event_logs",
                    [postgres["password"]])
        events, leaking = cur.fetchone()
        assert events > 0 and leaking == 0, f"{leaking} of {events} stored events contain the database password"
        # Nor anywhere else Dagster stores text (run bodies, instance info, key-value store...).
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        for (table,) in cur.fetchall():
            cur.execute(f'SELECT count(*) FROM "{table}" t WHERE strpos(t::text, %s) > 0', [postgres["password"]])
            assert cur.fetchone() == (0,), f"table {table} stores the database password"


def test_an_instance_built_while_another_process_creates_the_tables_and_its_first_run(postgres: dict, tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """Four `smart-maintenance run` started at once on an empty database: one that found no tables creates
    them and runs Dagster's optional data migration over the runs it finds, before its instance exists;
    another process's first run may be there already, the migration not yet marked done by the process
    that created the tables (Dagster then fails: "undefined DagsterInstance weakref"). `instance_for`
    builds the instance again. That state is made here: a run, the migration's mark removed, and the
    table check of the process under test saying "no tables" once, as it did before they were created."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef
    from dagster_postgres.run_storage import run_storage

    from smart_maintenance.config import DataRoot
    from smart_maintenance.runner import instance_for

    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    for key, name in (("host", "HOST"), ("port", "PORT"), ("db", "DB"), ("user", "USER"), ("password", "PASSWORD")):
        monkeypatch.setenv(f"SMART_MAINTENANCE_PG_{name}", str(postgres[key]))

    @dg.asset
    def first_asset() -> None:
        pass

    root = DataRoot(tmp_path / "data")
    with instance_for(root) as other:  # the other process: tables, then its first run
        first = dg.materialize([first_asset], instance=other).run_id
    with psycopg2.connect(host=postgres["host"], port=postgres["port"], dbname=postgres["db"], user=postgres["user"],
                          password=postgres["password"]) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM secondary_indexes WHERE name = 'run_start_end_overwritten'")  # not marked yet
    checks = []
    real = run_storage.retry_pg_connection_fn

    def no_tables_yet(fn, *args, **kwargs):  # what this process saw before the other created them
        checks.append(fn)
        return [] if len(checks) == 1 else real(fn, *args, **kwargs)

    monkeypatch.setattr(run_storage, "retry_pg_connection_fn", no_tables_yet)
    with pytest.raises(dg.DagsterInvariantViolationError, match="DagsterInstance weakref"):
        dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home)))  # Dagster alone: the failure
    checks.clear()
    with instance_for(root) as instance:
        assert len(checks) >= 2  # the race happened, then the second build
        assert [r.run_id for r in instance.get_runs()] == [first]
