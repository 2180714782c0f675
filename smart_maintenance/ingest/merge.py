"""Merging a batch of valid readings into the daily partitions of `sensor_readings`.

The deduplication rule, on the key (equipment_id, sensor_id, timestamp):
- inside a batch the reading ingested last wins (later file, then later row); the others count as
  `duplicate` in their own file's tally;
- against the lake, a reading equal in value to the stored one is a `duplicate` (the stored row and
  its lineage stay); a different value replaces the stored one (`replaced`, counted as kept): a
  re-export with corrected values is the usual reason;
- rows already in the lake from the same file content (an interrupted earlier attempt) count as kept,
  so a re-run after a crash reports what a clean run would have.
Each touched partition is rewritten whole, under its lock, so the result is the same whatever the
order or the number of attempts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from smart_maintenance import lake, schemas

DATASET = "sensor_readings"
PARTITION_KEY = "date"
KEY = ("equipment_id", "sensor_id", "timestamp")


@dataclass
class MergeTally:
    kept: dict[int, int] = field(default_factory=dict)
    duplicate: dict[int, int] = field(default_factory=dict)
    replaced: dict[int, int] = field(default_factory=dict)
    partitions_by_file: dict[int, list[str]] = field(default_factory=dict)
    partitions: list[str] = field(default_factory=list)


def merge_readings(con: duckdb.DuckDBPyConnection, lake_dir: Path, valid: str) -> MergeTally:
    """Merge the rows of table `valid` (SENSOR_READINGS columns + file_idx, row_number) into the lake."""
    tally = MergeTally()
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE ranked AS
        SELECT *, strftime(timestamp, '%Y-%m-%d') AS date,
               row_number() OVER (PARTITION BY equipment_id, sensor_id, timestamp
                                  ORDER BY file_idx DESC, row_number DESC) AS rn
        FROM {valid}"""
    )
    dates = [d for (d,) in con.sql("SELECT DISTINCT date FROM ranked ORDER BY date").fetchall()]
    if not dates:
        return tally
    with lake.partition_locks(lake_dir, DATASET, dates):
        files = [f for d in dates if (f := lake.partition_file(lake_dir, DATASET, PARTITION_KEY, d))]
        cols = ", ".join(f'"{n}"' for n in schemas.SENSOR_READINGS.names)
        if files:
            paths = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
            con.execute(f"CREATE OR REPLACE TEMP TABLE existing AS SELECT {cols} FROM read_parquet([{paths}])")
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE existing AS SELECT {cols} FROM ranked LIMIT 0")
        con.execute(
            """CREATE OR REPLACE TEMP TABLE judged AS
            SELECT r.*, CASE
                WHEN r.rn > 1 THEN 'duplicate'
                WHEN e.timestamp IS NULL THEN 'kept'
                WHEN e.file_sha256 = r.file_sha256 THEN 'kept'
                WHEN e.value = r.value THEN 'duplicate'
                ELSE 'replaced' END AS outcome
            FROM ranked r LEFT JOIN existing e
              ON e.equipment_id = r.equipment_id AND e.sensor_id = r.sensor_id AND e.timestamp = r.timestamp"""
        )
        for file_idx, outcome, n in con.sql("SELECT file_idx, outcome, count(*) FROM judged GROUP BY ALL").fetchall():
            target = tally.duplicate if outcome == "duplicate" else tally.kept
            target[file_idx] = target.get(file_idx, 0) + n
            if outcome == "replaced":
                tally.replaced[file_idx] = tally.replaced.get(file_idx, 0) + n
        for file_idx, parts in con.sql(
            "SELECT file_idx, list(DISTINCT date ORDER BY date) FROM judged WHERE outcome <> 'duplicate' GROUP BY ALL"
        ).fetchall():
            tally.partitions_by_file[file_idx] = parts
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE merged AS
            SELECT {cols}, strftime(timestamp, '%Y-%m-%d') AS date FROM existing e
                ANTI JOIN (SELECT equipment_id, sensor_id, timestamp FROM judged WHERE outcome <> 'duplicate') j
                  ON e.equipment_id = j.equipment_id AND e.sensor_id = j.sensor_id AND e.timestamp = j.timestamp
            UNION ALL
            SELECT {cols}, date FROM judged WHERE outcome <> 'duplicate'
            ORDER BY date, equipment_id, sensor_id, timestamp"""
        )
        con.execute("DROP TABLE ranked; DROP TABLE judged; DROP TABLE existing")
        changed = set(tally.partitions_by_file and sum(tally.partitions_by_file.values(), []))
        # One partition at a time out of DuckDB (which spills past its memory limit): the process never
        # holds the whole batch as Arrow.
        for date in sorted(changed):
            part = con.sql(f"SELECT {cols} FROM merged WHERE date = '{date}'").to_arrow_table()  # date: YYYY-MM-DD
            lake.write_partition(lake_dir, DATASET, PARTITION_KEY, date, part.cast(schemas.SENSOR_READINGS))
        con.execute("DROP TABLE merged")
        tally.partitions = sorted(changed)
    return tally

