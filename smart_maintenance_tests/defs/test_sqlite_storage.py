"""The embedded instance's SQLite storage with connections kept open (`defs/sqlite_storage.py`, issue 8):
the same files as Dagster's stock storage, each reading what the other wrote, a run's events reaching
the UI's live log as they are written, new run databases identical to Dagster's own, a bounded number
of them open, a replaced database reopened, and other storage left as configured."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage

from smart_maintenance.config import DataRoot
from smart_maintenance.defs.sqlite_storage import RUN_SHARDS_OPEN, PooledSqliteEventLogStorage, PooledSqliteRunStorage
from smart_maintenance.runner import ensure_instance_home, instance_for, instance_ref


@dg.asset
def reading_count() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


def stock_instance(root: DataRoot) -> dg.DagsterInstance:
    """What the webserver and the daemon open: the home's dagster.yaml as is."""
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(ensure_instance_home(root))))


def materializations(instance: dg.DagsterInstance) -> list[str]:
    return [r.run_id for r in instance.fetch_materializations(dg.AssetKey("reading_count"), limit=100).records]


def test_pooled_and_stock_storage_share_the_same_files_both_ways(tmp_path: Path):
    root = DataRoot(tmp_path).ensure()
    with instance_for(root) as pooled, stock_instance(root) as stock:
        assert isinstance(pooled.event_log_storage, PooledSqliteEventLogStorage)
        assert isinstance(pooled.run_storage, PooledSqliteRunStorage)
        assert type(stock.event_log_storage) is SqliteEventLogStorage

        first = dg.materialize([reading_count], instance=pooled).run_id
        assert materializations(stock) == [first]  # the stock storage reads what the pooled one wrote
        assert stock.get_run_by_id(first).is_success

        second = dg.materialize([reading_count], instance=stock).run_id
        # ... and the pooled storage, whose connections stayed open, sees the other writer's new rows
        assert materializations(pooled) == [second, first]
        assert [e.dagster_event.event_type_value for e in pooled.all_logs(second) if e.dagster_event][-1] == "PIPELINE_SUCCESS"
        assert {r.run_id for r in pooled.get_runs()} == {first, second}


def schema(path: Path) -> tuple:
    con = sqlite3.connect(path)
    try:
        return (sorted(con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()),
                con.execute("PRAGMA journal_mode").fetchone()[0], con.execute("SELECT * FROM alembic_version").fetchall())
    finally:
        con.close()


def test_new_run_databases_are_dagsters_own_schema(tmp_path: Path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path / "pooled"))
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    for storage in (pooled, stock):
        for run_id in ("run-a", "run-b"):  # the first builds the template, the second is copied from it
            with storage.run_connection(run_id):
                pass
    reference = schema(tmp_path / "stock" / "run-a.db")
    assert reference[1] == "wal" and reference[2]  # stamped with Dagster's alembic head
    assert schema(tmp_path / "pooled" / "run-a.db") == reference
    assert schema(tmp_path / "pooled" / "run-b.db") == reference
    assert not list((tmp_path / "pooled").glob("*.tmp"))  # the copies' scratch files are gone
    pooled.dispose()


def test_a_run_database_created_meanwhile_is_not_overwritten(tmp_path: Path, monkeypatch):
    """Another process (the daemon's run worker) may create a run's database first, even between the
    check that it does not exist and the copy being linked into place: it is kept."""
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    with pooled.run_connection("warm-up"):  # the template exists
        pass
    other = SqliteEventLogStorage(str(tmp_path))
    for run_id in ("shared", "raced"):
        other.store_event(dg.EventLogEntry(error_info=None, level="INFO", user_message=f"{run_id} by the other",
                                           run_id=run_id, timestamp=1.0))
    with pooled.run_connection("shared"):  # seen to exist
        pass
    shard = pooled.path_for_shard("raced")
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: False if p == shard else real_exists(p))  # created after the check
    with pooled.run_connection("raced"):
        pass
    monkeypatch.undo()
    assert [e.user_message for e in pooled.get_logs_for_run("shared")] == ["shared by the other"]
    assert [e.user_message for e in pooled.get_logs_for_run("raced")] == ["raced by the other"]
    assert not list(tmp_path.glob("*.tmp"))
    pooled.dispose()


def test_open_run_databases_are_bounded_and_evicted_ones_still_read(tmp_path: Path):
    root = DataRoot(tmp_path).ensure()
    with instance_for(root) as instance:
        runs = [dg.materialize([reading_count], instance=instance).run_id for _ in range(RUN_SHARDS_OPEN + 3)]
        storage = instance.event_log_storage
        open_shards = [s for s in storage._engines if s != INDEX_SHARD_NAME]
        assert len(open_shards) == RUN_SHARDS_OPEN and runs[0] not in open_shards
        assert all(len([e for e in instance.all_logs(r) if e.is_dagster_event]) > 5 for r in runs)
        assert materializations(instance) == runs[::-1]


def test_wipe_closes_run_databases_and_runs_go_on(tmp_path: Path):
    root = DataRoot(tmp_path).ensure()
    with instance_for(root) as instance:
        old = dg.materialize([reading_count], instance=instance).run_id
        instance.wipe()
        assert not [s for s in instance.event_log_storage._engines if s != INDEX_SHARD_NAME]
        assert not (root.dagster_home / "history" / "runs" / f"{old}.db").exists()
        new = dg.materialize([reading_count], instance=instance).run_id
        assert materializations(instance) == [new] and instance.get_run_by_id(old) is None


def test_the_uis_live_log_of_a_run_sees_its_events(tmp_path: Path):
    """The webserver follows a run's log by watching the run's database file (Dagster's stock storage,
    `watch`): events written through a kept connection reach it as they are written."""
    pooled, stock = PooledSqliteEventLogStorage(str(tmp_path)), SqliteEventLogStorage(str(tmp_path))
    entry = lambda i: dg.EventLogEntry(error_info=None, level="INFO", user_message=f"step {i}", run_id="live",  # noqa: E731
                                       timestamp=float(i))
    pooled.store_event(entry(0))
    seen: list[str] = []
    stock.watch("live", None, lambda event, cursor: seen.append(event.user_message))
    try:
        for i in range(1, 4):
            time.sleep(0.3)  # a step's work between events
            pooled.store_event(entry(i))
            deadline = time.monotonic() + 10
            while f"step {i}" not in seen and time.monotonic() < deadline:
                time.sleep(0.05)
            assert f"step {i}" in seen, seen  # each event seen before the next one is written
    finally:
        stock.end_watch("live", next(iter(stock._watchers["live"])))
        stock.dispose()
        pooled.dispose()
    assert [m for m in dict.fromkeys(seen)] == [f"step {i}" for i in range(4)]


def test_a_database_replaced_at_its_path_is_reopened(tmp_path: Path):
    """Kept connections follow the path, not the file they opened: a broken runs.db fails the next use
    (rather than the worker writing on into the file moved aside), and the restored one is used again."""
    root = DataRoot(tmp_path).ensure()
    with instance_for(root) as instance:
        first = dg.materialize([reading_count], instance=instance).run_id
        runs_db = root.dagster_home / "history" / "runs.db"
        aside = runs_db.with_name("runs.db.aside")
        os.replace(runs_db, aside)
        runs_db.write_bytes(b"not a database " * 1000)
        with pytest.raises(sqlalchemy.exc.DatabaseError):
            instance.get_runs()
        os.replace(aside, runs_db)
        assert [r.run_id for r in instance.get_runs()] == [first]
        second = dg.materialize([reading_count], instance=instance).run_id
    with stock_instance(root) as stock:
        assert {r.run_id for r in stock.get_runs()} == {first, second}


def test_threads_writing_at_once_lose_no_event(tmp_path: Path):
    """Writers in several threads share the kept engines (Dagster's lock takes them in turn)."""
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    errors: list[BaseException] = []

    def write(run_id: str) -> None:
        try:
            for i in range(40):
                storage.store_event(dg.EventLogEntry(error_info=None, level="INFO", user_message=f"{run_id} {i}",
                                                     run_id=run_id, timestamp=float(i)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"run-{t}",)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(storage.get_logs_for_run(f"run-{t}")) == 40 for t in range(4))
    storage.dispose()


def test_other_storage_is_used_as_configured(tmp_path: Path, monkeypatch):
    """A DAGSTER_HOME with PostgreSQL (production) keeps it; only Dagster's SQLite storage is pooled."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("storage:\n  postgres:\n    postgres_url: postgresql+psycopg2://u:p@localhost:1/db\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert instance_ref(DataRoot(tmp_path / "data")).storage_data.class_name == "DagsterPostgresStorage"
    monkeypatch.delenv("DAGSTER_HOME")
    embedded = instance_ref(DataRoot(tmp_path / "data"))
    assert (embedded.storage_data.module_name, embedded.storage_data.class_name) == (
        "smart_maintenance.defs.sqlite_storage", "PooledSqliteStorage")
