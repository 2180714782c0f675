"""Dagster's SQLite storage with each database's connection kept open, for the in-process runs of
`smart-maintenance run` and its long-lived worker (issue 8).

Dagster's SQLite run and event storages build a new SQLAlchemy engine and connection for every statement
batch and close it after: a micro-batch writes ~80 events, and each pays an engine, a connect, SQL
compiled afresh (the compiled cache lives on the engine), and a close that checkpoints the WAL because
it was the database's last connection. That was ~0.8 s of a 2.2 s micro-batch. Here each database keeps
one engine with a small pool, so a connection is opened once and statements are compiled once.

The files, schema and locking are Dagster's own (WAL mode, the same busy timeout): the webserver and the
daemon read and write them with the stock storage at the same time. Only connection handling differs:
- a pooled connection is returned with its transaction ended, so it holds no lock and no old snapshot;
- per-run databases are kept open for the `RUN_SHARDS_OPEN` most recent runs, older ones are closed,
  so a worker that runs for weeks holds a bounded number of files open;
- a database file replaced at its path (restored from a backup, say) is reopened on its next use;
- a run's WAL is still checkpointed after each of its events (`_publish`): the UI's live log of a run
  watches the run's database file, which Dagster's storage changed by closing its connection;
- `wipe` closes the per-run connections before Dagster deletes their files.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster._check as check
from dagster._serdes.config_class import ConfigurableClassData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool, QueuePool

RUN_SHARDS_OPEN = 8  # per-run event databases kept open (a run writes to its own; the newest are in use)


class _KeptEngine:
    """An engine for one database file whose connection stays open (more are opened, and closed when
    returned, if threads overlap). Reopened when the file at its path is no longer the one it opened
    (replaced, e.g. restored from a backup, or removed), as Dagster's connection per use would be."""

    def __init__(self, conn_string: str, connect_args: dict | None = None, pool_size: int = 1):
        self.conn_string, self.path, self.pool_size = conn_string, make_url(conn_string).database or "", pool_size
        self.connect_args = {**(connect_args or {}), "check_same_thread": False}
        self.engine: Engine | None = None
        self.identity: tuple[int, int] | None = None
        self.lock = threading.Lock()

    def get(self) -> Engine:
        with self.lock:
            identity = _file_identity(self.path)
            if self.engine is None or identity != self.identity:
                self.dispose()
                self.engine = create_engine(self.conn_string, poolclass=QueuePool, pool_size=self.pool_size, max_overflow=-1,
                                            connect_args=self.connect_args)
                self.identity = identity
            return self.engine

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None


def _file_identity(path: str) -> tuple[int, int] | None:
    # Device and inode only (not `storage.file_identity`'s size and mtime, which every write through the
    # kept connection changes): which file is at the path, not which version of it.
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with an engine per database, kept: the index database's for the life of
    the storage, each run's for the `RUN_SHARDS_OPEN` most recent runs."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, _KeptEngine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._template: bytes | None = None  # an empty run database, see `_create_from_template`
        self._template_mode = 0o644
        super().__init__(base_dir, inst_data)

    def _shard_engine(self, shard: str) -> Engine:
        with self._engines_lock:
            kept = self._engines.get(shard)
            if kept is None:
                # The index's pool keeps two: Dagster asks `has_table` while it holds an index connection.
                kept = self._engines[shard] = _KeptEngine(self.conn_string_for_shard(shard),
                                                          {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                                                          pool_size=2 if shard == INDEX_SHARD_NAME else 1)
            self._engines.move_to_end(shard)
            run_shards = [s for s in self._engines if s != INDEX_SHARD_NAME]
            for old in run_shards[:-RUN_SHARDS_OPEN]:
                self._engines.pop(old).dispose()
            return kept.get()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # As Dagster's `_connect` (same lock, same first-use schema set-up), with the kept engine.
        check.str_param(shard, "shard")
        with self._db_lock:
            if shard not in self._initialized_dbs and self._create_from_template(shard):
                self._initialized_dbs.add(shard)
            engine = self._shard_engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _create_from_template(self, shard: str) -> bool:
        """A new run's database as a copy of an empty one Dagster set up once in this process (its
        `_initdb`: tables, WAL mode, alembic stamp): ~5 ms instead of ~50 ms of DDL and migration-script
        parsing per run. Linked into place, so it never overwrites a database another process created
        meanwhile; False (and Dagster's own set-up) if the database exists."""
        path = self.path_for_shard(shard)
        if shard == INDEX_SHARD_NAME or os.path.exists(path):
            return False
        if self._template is None:
            with tempfile.TemporaryDirectory(dir=self._base_dir) as tmp:
                engine = create_engine(create_db_conn_string(tmp, "template"), poolclass=NullPool)
                self._initdb(engine)  # NullPool: its connection, the last, is closed after: the WAL is checkpointed
                engine.dispose()
                template = Path(tmp, "template.db")
                self._template, self._template_mode = template.read_bytes(), template.stat().st_mode & 0o777
        fd, tmp = tempfile.mkstemp(dir=self._base_dir, suffix=".db.tmp")
        try:
            os.fchmod(fd, self._template_mode)  # as SQLite creates a database (mkstemp's are private)
            with os.fdopen(fd, "wb") as out:
                out.write(self._template)
            os.link(tmp, path)
        except OSError:  # exists already, or a file system without hard links: Dagster's own set-up
            return False
        finally:
            os.unlink(tmp)
        return True

    def store_event(self, event: EventLogEntry) -> None:
        super().store_event(event)
        if event.run_id:
            self._publish(event.run_id)

    def _publish(self, run_id: str) -> None:
        """Make a run's new events visible to the UI's live log view, which watches the run's database
        file for changes: with WAL, a write reaches that file when the WAL is checkpointed, which
        Dagster's storage does by closing its connection after every event. A kept connection does it
        here (PASSIVE: never waits for readers; ~0.3 ms on a run's small WAL)."""
        with self._db_lock, self._shard_engine(run_id).connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def has_table(self, table_name: str) -> bool:
        # Dagster's opens an engine of its own for this, twice per asset check event; the index's kept
        # engine instead (not under `_db_lock`: Dagster may ask while it holds a connection).
        engine = self._shard_engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def close_engines(self, keep_index: bool = True) -> None:
        with self._engines_lock:
            for shard in [s for s in self._engines if not (keep_index and s == INDEX_SHARD_NAME)]:
                self._engines.pop(shard).dispose()

    def wipe(self) -> None:
        with self._db_lock:
            self.close_engines()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self.close_engines(keep_index=False)


class PooledSqliteRunStorage(SqliteRunStorage):
    """`SqliteRunStorage` (runs.db) with one kept engine."""

    def __init__(self, conn_string: str, inst_data=None):
        super().__init__(conn_string, inst_data)
        self._engine = _KeptEngine(conn_string)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engine.get().connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """The default SQLite storage of a Dagster home (same folders and files), with pooled run and event
    storage. Schedules keep Dagster's storage: in-process runs barely touch it."""

    def __init__(self, base_dir: str, inst_data=None):
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()  # DagsterStorage's: the sub-storages are the pooled ones

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)  # (Dagster's builds its own class)


STOCK_STORAGE = ("dagster._core.storage.sqlite_storage", "DagsterSqliteStorage")  # Dagster's default storage


def pooled_in_place_of(storage: ConfigurableClassData | None) -> dict | None:
    """The instance override (`storage:`) putting `PooledSqliteStorage` on the folder of Dagster's default
    SQLite storage; None for any other storage (PostgreSQL is used as configured)."""
    if storage is None or (storage.module_name, storage.class_name) != STOCK_STORAGE:
        return None
    return {"custom": {"module": __name__, "class": PooledSqliteStorage.__name__, "config": dict(storage.config_dict)}}
