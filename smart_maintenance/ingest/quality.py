"""Data-quality rules on ingested readings, one function per dimension, measured with DuckDB.

Each returns a `Verdict` (passed + the measured numbers), which the Dagster checks report as is.
`dates` limits a rule to some daily partitions (a micro-batch checks what it touched).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from smart_maintenance import lake, schemas

READINGS = "sensor_readings"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _scope(lake_dir: Path, dates: list[str] | None) -> str | None:
    """The readings to judge: the whole dataset, or some daily partitions (None if there are none)."""
    if dates is None:
        return lake.scan_sql(lake_dir, READINGS) if lake.has_data(lake_dir, READINGS) else None
    files = [f for d in dates if (f := lake.partition_file(lake_dir, READINGS, "date", d))]
    if not files:
        return None
    paths = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{paths}], hive_partitioning=true)"


def _empty(name: str) -> Verdict:
    return Verdict(True, f"no readings to check ({name})", {"rows_checked": 0})


def schema_matches(lake_dir: Path, dates: list[str] | None = None, con: duckdb.DuckDBPyConnection | None = None) -> Verdict:
    """Every readings file has the contract's columns with the contract's types."""
    con = con or lake.connect()
    files = sorted((lake_dir / READINGS).glob(f"*/{lake.DATA_FILE}")) if dates is None else [
        f for d in dates if (f := lake.partition_file(lake_dir, READINGS, "date", d))]
    bad = []
    for f in files:
        if not lake.parquet_file(f).schema_arrow.remove_metadata().equals(schemas.SENSOR_READINGS):
            bad.append(f.parent.name)
    return Verdict(not bad, f"{len(files) - len(bad)} of {len(files)} partitions match the sensor_readings schema",
                   {"partitions_checked": len(files), "mismatched_partitions": bad[:20]})


def keys_unique(lake_dir: Path, dates: list[str] | None = None, con: duckdb.DuckDBPyConnection | None = None) -> Verdict:
    """No two readings share (equipment_id, sensor_id, timestamp)."""
    if (scope := _scope(lake_dir, dates)) is None:
        return _empty("key uniqueness")
    con = con or lake.connect()
    rows, dups = con.execute(
        f"SELECT count(*), count(*) - count(DISTINCT (equipment_id, sensor_id, timestamp)) FROM {scope}"
    ).fetchall()[0]
    return Verdict(dups == 0, f"{dups} duplicate keys in {rows} readings", {"rows_checked": rows, "duplicate_keys": dups})


def values_in_range(lake_dir: Path, sensors: pa.Table, dates: list[str] | None = None,
                    con: duckdb.DuckDBPyConnection | None = None) -> Verdict:
    """Stored values are finite and inside each known sensor's valid range (ingestion quarantines the rest)."""
    if (scope := _scope(lake_dir, dates)) is None:
        return _empty("value range")
    con = con or lake.connect()
    con.register("ref_sensors_q", sensors)
    rows, bad = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE isnan(r.value) OR isinf(r.value)
                OR r.value < s.valid_min OR r.value > s.valid_max)
            FROM {scope} r LEFT JOIN ref_sensors_q s USING (equipment_id, sensor_id)"""
    ).fetchall()[0]
    con.unregister("ref_sensors_q")
    return Verdict(bad == 0, f"{bad} of {rows} readings outside their valid range",
                   {"rows_checked": rows, "out_of_range": bad})


def fresh(lake_dir: Path, now: datetime, max_age_hours: float, con: duckdb.DuckDBPyConnection | None = None) -> Verdict:
    """The newest reading is at most `max_age_hours` old (sensors still report)."""
    if not lake.has_data(lake_dir, READINGS):
        return Verdict(False, "no readings at all", {"latest_reading": None})
    con = con or lake.connect()
    newest = sorted((lake_dir / READINGS).glob(f"*/{lake.DATA_FILE}"))[-1]
    (latest,) = con.execute(f"SELECT max(timestamp) FROM read_parquet('{newest}')").fetchall()[0]
    age = (now - latest).total_seconds() / 3600
    return Verdict(age <= max_age_hours, f"newest reading is {age:.1f} h old (limit {max_age_hours} h)",
                   {"latest_reading": latest.isoformat(), "age_hours": round(age, 2), "max_age_hours": max_age_hours})


def rows_conserved(lake_dir: Path, files: list[str] | None = None, dates: list[str] | None = None,
                   con: duckdb.DuckDBPyConnection | None = None) -> Verdict:
    """For every ingested file: rows read = kept + quarantined + duplicates, the quarantine holds exactly
    the quarantined rows, and the lake holds no more rows of a file than it kept (later files may have
    replaced some). `files` (content hashes) and `dates` narrow the check to one batch."""
    if not lake.has_data(lake_dir, "ingested_files"):
        return Verdict(True, "no files ingested yet", {"files_checked": 0})
    con = con or lake.connect()
    only = "" if files is None else " AND file_sha256 IN (" + ", ".join(f"'{f}'" for f in files) + ")"
    ledger = f"(SELECT * FROM {lake.scan_sql(lake_dir, 'ingested_files')} WHERE status = 'ingested'{only})"
    none = "(SELECT NULL::VARCHAR AS file_sha256, 0 AS n LIMIT 0)"
    quarantine = (f"(SELECT file_sha256, count(*) AS n FROM {lake.scan_sql(lake_dir, 'quarantine')} GROUP BY ALL)"
                  if lake.has_data(lake_dir, "quarantine") else none)
    scope = _scope(lake_dir, dates)
    stored = f"(SELECT file_sha256, count(*) AS n FROM {scope} GROUP BY ALL)" if scope else none
    rows = con.execute(
        f"""SELECT l.source_file, l.rows_read, l.rows_kept, l.rows_quarantined, l.rows_duplicate,
                   coalesce(q.n, 0) AS in_quarantine, coalesce(s.n, 0) AS in_lake, l.kind
            FROM {ledger} l LEFT JOIN {quarantine} q USING (file_sha256) LEFT JOIN {stored} s USING (file_sha256)"""
    ).fetchall()
    broken = [
        r[0] for r in rows
        if r[1] != r[2] + r[3] + r[4] or r[5] != r[3] or (r[7].startswith("readings") and r[6] > r[2])
    ]
    totals = {k: sum(r[i] for r in rows) for k, i in (("rows_read", 1), ("rows_kept", 2), ("rows_quarantined", 3), ("rows_duplicate", 4))}
    return Verdict(not broken, f"{len(rows) - len(broken)} of {len(rows)} files conserve their rows",
                   {"files_checked": len(rows), "files_broken": broken[:20], **totals})
