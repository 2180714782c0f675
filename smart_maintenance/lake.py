"""The Parquet lake: atomic, idempotent partition writes and DuckDB reads.

Layout: `lake/<dataset>/<key>=<value>/data.parquet`, one file per partition, so readers use
`read_parquet('lake/<dataset>/**/*.parquet', hive_partitioning=true)`. A partition is replaced as a
whole: the new content is written next to it under a name no reader globs (`.data.parquet.tmp-*`),
then renamed over the old file. A killed writer leaves at most an invisible temp file, never a
half-written or doubled partition. Writers of one partition are serialised by a file lock, so two
processes merging into the same day cannot lose each other's rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

DATA_FILE = "data.parquet"


def partition_dir(lake: Path, dataset: str, key: str, value: str) -> Path:
    return lake / dataset / f"{key}={value}"


def write_partition(lake: Path, dataset: str, key: str, value: str, table: pa.Table) -> Path | None:
    """Replace one partition with `table` atomically; an empty table removes the partition."""
    folder = partition_dir(lake, dataset, key, value)
    target = folder / DATA_FILE
    if table.num_rows == 0:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        return None
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{DATA_FILE}.tmp-{uuid.uuid4().hex}"
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target


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


def write_dataset(lake: Path, dataset: str, table: pa.Table) -> Path:
    """Replace a non-partitioned dataset (`lake/<dataset>/data.parquet`) atomically."""
    folder = lake / dataset
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{DATA_FILE}.tmp-{uuid.uuid4().hex}"
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, folder / DATA_FILE)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return folder / DATA_FILE


INGEST_MEMORY_LIMIT = os.environ.get("SMART_MAINTENANCE_INGEST_MEMORY", "1GB")


def connect(memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with UTC as session time zone (naive timestamps mean UTC in this project).

    With `memory_limit`, DuckDB spills intermediate tables to a temp folder past it instead of growing
    the process: ingestion uses it, so a 5M-reading file does not need 5 GB. (Queries whose *result* must
    come back whole, e.g. into pandas, need their result to fit, so other readers keep DuckDB's default.)"""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    if memory_limit:
        spill = Path(tempfile.gettempdir()) / "smart-maintenance-duckdb"
        con.execute(f"SET memory_limit='{memory_limit}'; SET temp_directory='{spill}'")
    return con


@contextlib.contextmanager
def partition_locks(lake: Path, dataset: str, values: Iterable[str]) -> Iterator[None]:
    """Hold exclusive locks on several partitions of a dataset, taken in sorted order (no deadlock)."""
    folder = lake / ".locks" / dataset
    folder.mkdir(parents=True, exist_ok=True)
    handles = []
    try:
        for value in sorted(set(values)):
            fh = open(folder / f"{value}.lock", "a+")
            fcntl.flock(fh, fcntl.LOCK_EX)
            handles.append(fh)
        yield
    finally:
        for fh in reversed(handles):
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
