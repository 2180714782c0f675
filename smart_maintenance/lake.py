"""The Parquet lake: atomic, idempotent partition writes and DuckDB reads.

Layout: `lake/<dataset>/<key>=<value>/data.parquet`, one file per partition, so readers use
`read_parquet('lake/<dataset>/**/*.parquet', hive_partitioning=true)`. A partition is replaced as a
whole: the new content is written next to it under a name no reader globs (`.data.parquet.tmp-*`),
then renamed over the old file. A killed writer leaves at most an invisible temp file, never a
half-written or doubled partition. Writers of one partition are serialised by a lock, so two
processes merging into the same day cannot lose each other's rows.

On an object store (`storage.py`) the lake is the same layout under a URL; a partition is replaced by
one PUT (atomic per object, so no temp name is needed). Locks are OS file locks in a local folder, which
serialise the processes of one machine; processes on several machines share a PostgreSQL server
instead (`SMART_MAINTENANCE_LOCK_URL`, session advisory locks, released by the server if a holder dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from smart_maintenance import storage

if TYPE_CHECKING:
    import pandas as pd

DATA_FILE = "data.parquet"
LOCK_URL_ENV = "SMART_MAINTENANCE_LOCK_URL"


def partition_dir(lake: Path, dataset: str, key: str, value: str) -> Path:
    return lake / dataset / f"{key}={value}"


def write_partition(lake: Path, dataset: str, key: str, value: str, table: pa.Table) -> Path | None:
    """Replace one partition with `table` atomically; an empty table removes the partition."""
    target = partition_dir(lake, dataset, key, value) / DATA_FILE
    if table.num_rows == 0:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        return None
    return _replace(target, table, fsync=True)


def _replace(target: Path, table: pa.Table, fsync: bool) -> Path:
    if storage.is_remote(target):
        # Serialised first, then one PUT: a failure while encoding never uploads part of a file (an
        # fsspec file closed by an exception would still commit what it had).
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        target.write_bytes(sink.getvalue().to_pybytes())
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{DATA_FILE}.tmp-{uuid.uuid4().hex}")
    try:
        pq.write_table(table, tmp, compression="zstd")
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target


def parquet_file(path: Path) -> pq.ParquetFile:
    """A Parquet file's metadata and schema (local or remote), without reading its data."""
    return pq.ParquetFile(path.open("rb") if storage.is_remote(path) else path)


def read_table(path: Path, **kwargs) -> pa.Table:
    """One Parquet file (local or remote) as an Arrow table."""
    if storage.is_remote(path):
        with path.open("rb") as fh:
            return pq.read_table(fh, **kwargs)
    return pq.read_table(path, **kwargs)


def partition_file(lake: Path, dataset: str, key: str, value: str) -> Path | None:
    path = partition_dir(lake, dataset, key, value) / DATA_FILE
    return path if path.exists() else None


def partition_files(lake: Path, dataset: str, key: str, values: Iterable[str]) -> list[Path]:
    """The data files of those partitions that exist."""
    return [f for v in values if (f := partition_file(lake, dataset, key, v))]


def files_sql(files: list[Path]) -> str:
    """A DuckDB table expression over some Parquet files (hive partition columns included)."""
    paths = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{paths}], hive_partitioning=true, union_by_name=true)"


def dataset_glob(lake: Path, dataset: str) -> str:
    return str(lake / dataset / "**" / "*.parquet")


def has_data(lake: Path, dataset: str) -> bool:
    folder = lake / dataset
    return folder.exists() and ((folder / DATA_FILE).exists() or any(folder.glob(f"*/{DATA_FILE}")))


def scan_sql(lake: Path, dataset: str) -> str:
    """A DuckDB table expression over a whole dataset (hive partition columns included)."""
    path = dataset_glob(lake, dataset).replace("'", "''")
    return f"read_parquet('{path}', hive_partitioning=true, union_by_name=true)"


def read_dataset(lake: Path, dataset: str, where: str = "", con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """The whole dataset (optionally filtered by a SQL predicate) as an Arrow table; empty if absent."""
    if not has_data(lake, dataset):
        return pa.table({})
    con = con or connect()
    sql = f"SELECT * FROM {scan_sql(lake, dataset)}" + (f" WHERE {where}" if where else "")
    return con.sql(sql).to_arrow_table()


def dataset_file(lake: Path, dataset: str) -> Path:
    """The one file of a non-partitioned dataset."""
    return lake / dataset / DATA_FILE


def write_dataset(lake: Path, dataset: str, table: pa.Table) -> Path:
    """Replace a non-partitioned dataset (`lake/<dataset>/data.parquet`) atomically."""
    return _replace(dataset_file(lake, dataset), table, fsync=False)


INGEST_MEMORY_LIMIT = os.environ.get("SMART_MAINTENANCE_INGEST_MEMORY", "1GB")


def connect(memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with UTC as session time zone (naive timestamps mean UTC in this project).

    For local roots, a connection to this process's shared in-memory database: opening a database costs
    ~9 ms, a cursor on it ~0.1 ms, and a run opens dozens (every connection is its own session: time
    zone, temp tables and registered frames are not shared).

    With `memory_limit`, a database of its own, which spills intermediate tables to a temp folder past
    the limit instead of growing the process: ingestion uses it, so a 5M-reading file does not need 5 GB.
    (Queries whose *result* must come back whole, e.g. into pandas, need their result to fit, so other
    readers keep DuckDB's default.)"""
    if memory_limit or storage.uses_remote():
        # Remote file systems are registered per database, under their protocol name: a database of its
        # own lets each connection register the current ones (a remote read dwarfs the 9 ms anyway).
        con = storage.register(duckdb.connect())
    else:
        con = _shared_database().cursor()
    if memory_limit:
        spill = Path(tempfile.gettempdir()) / "smart-maintenance-duckdb"
        con.execute(f"SET memory_limit='{memory_limit}'; SET temp_directory='{spill}'")
    con.execute("SET TimeZone='UTC'")
    return con


def frame(relation: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    """A query's rows as the pandas frame DuckDB's `.df()` gives (the same dtypes, column by column type:
    smart_maintenance_tests/test_lake_frame.py), through Arrow. DuckDB 2.0 builds `.df()` column by column
    in Python (~0.25 ms a column): 8 ms for a 24-column table of 3 rows, 2.5 ms this way. Arrow alone
    differs where `.df()` gives nullable integers and booleans, floats for DECIMAL and HUGEINT sums,
    timestamps for dates, objects for text columns without a value and NA for a missing list: those
    columns are converted."""
    import pandas as pd

    table = relation.to_arrow_table()
    if not all(_converted(field.type) for field in table.schema):
        return relation.df()  # a type not compared with .df() (an interval, a struct...): .df() itself
    out = table.to_pandas()
    for i, field in enumerate(table.schema):
        column, kind = table.column(i), field.type
        if pa.types.is_decimal(kind):
            out.isetitem(i, column.cast(pa.float64()).to_numpy())
        elif pa.types.is_date(kind):
            out.isetitem(i, column.cast(pa.timestamp("us")).to_numpy())
        elif column.null_count and (pa.types.is_integer(kind) or pa.types.is_boolean(kind)):
            out.isetitem(i, pd.api.types.pandas_dtype(_NULLABLE[str(kind)]).__from_arrow__(column))
        elif (pa.types.is_string(kind) or pa.types.is_large_string(kind)) and column.null_count == len(column):
            out.isetitem(i, pd.Series([None] * len(column), dtype=object).to_numpy())
        elif pa.types.is_list(kind) and column.null_count:
            values = out.iloc[:, i].to_numpy(dtype=object, copy=True)
            values[column.is_null().to_numpy(zero_copy_only=False)] = pd.NA
            out.isetitem(i, values)
    return out


def _converted(kind: pa.DataType) -> bool:
    """Whether `frame` gives `.df()`'s column for this Arrow type (tested: test_lake_frame.py)."""
    if pa.types.is_list(kind):
        return _converted(kind.value_type)
    return (pa.types.is_null(kind) or pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind)
            or pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_date32(kind)
            or pa.types.is_decimal(kind) or (pa.types.is_timestamp(kind) and kind.unit == "us"))


_NULLABLE = {"bool": "boolean", "int8": "Int8", "int16": "Int16", "int32": "Int32", "int64": "Int64",
             "uint8": "UInt8", "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64"}


_DATABASES: dict[int, duckdb.DuckDBPyConnection] = {}  # by process id: a forked child opens its own
_DATABASES_LOCK = threading.Lock()


def _shared_database() -> duckdb.DuckDBPyConnection:
    with _DATABASES_LOCK:
        db = _DATABASES.get(os.getpid())
        if db is None:
            db = _DATABASES[os.getpid()] = duckdb.connect()
        return db


@contextlib.contextmanager
def partition_locks(lake: Path, dataset: str, values: Iterable[str]) -> Iterator[None]:
    """Hold exclusive locks on several partitions of a dataset, taken in sorted order (no deadlock)."""
    keys = sorted(set(values))
    if url := os.environ.get(LOCK_URL_ENV):
        with _advisory_locks(url, [f"{lake}/{dataset}/{k}" for k in keys]):
            yield
        return
    folder = storage.scratch_dir(lake, ".locks") / dataset
    folder.mkdir(parents=True, exist_ok=True)
    handles = []
    try:
        for value in keys:
            fh = open(folder / f"{value}.lock", "a+")  # noqa: SIM115 - closed in the finally below
            fcntl.flock(fh, fcntl.LOCK_EX)
            handles.append(fh)
        yield
    finally:
        for fh in reversed(handles):
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()


@contextlib.contextmanager
def _advisory_locks(url: str, names: list[str]) -> Iterator[None]:
    """PostgreSQL session advisory locks, one 64-bit key per name, taken in the given (sorted) order.
    They belong to this connection: if the process dies, the server drops the connection and the locks."""
    import psycopg2  # only in deployments that share locks across machines

    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for name in names:
                key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
                cur.execute("SELECT pg_advisory_lock(%s)", (key,))
        yield
    finally:
        conn.close()  # releases every lock of the session
