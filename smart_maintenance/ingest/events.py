"""Maintenance-event and decision files: validated rows into their own lake datasets.

Each file's rows are stored in one partition keyed by the file's content hash (`file=<sha256>`), so
re-processing a file rewrites the same partition. An event already in the lake (same equipment,
time and type) counts as a duplicate; so does a decision repeated for the same request.

Unknown ids are kept and flagged, not quarantined: an event for equipment missing from
`reference/equipment.csv` (the reference often lags the plant) or a decision for a request the lake
does not hold is stored, and the file's ledger row says so in `reason` ("N rows kept but flagged...").
Quarantining them would lose them for good: dropping the same file again after fixing the
reference is a duplicate by content.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from smart_maintenance import lake, schemas
from smart_maintenance.ingest.layout import Layout
from smart_maintenance.ingest.source import ROW
from smart_maintenance.ingest.validate import EARLIEST, parse_timestamp_sql

if TYPE_CHECKING:
    from smart_maintenance.ingest.batch import FileOutcome


def _text(layout: Layout, role: str) -> str:
    return f"nullif(trim(c{layout.roles[role]}), '')" if role in layout.roles else "NULL"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _unknown_ids(con: duckdb.DuckDBPyConnection, lake_dir: Path, kind: str) -> str | None:
    """A flag for the ledger when valid rows of table `ev` name ids the system does not know."""
    if kind == "maintenance_events":
        known, column, what = "SELECT equipment_id FROM ref_equipment", "equipment_id", "equipment not in reference/equipment.csv"
    else:
        known = (f"SELECT request_id FROM {lake.scan_sql(lake_dir, 'maintenance_requests')}"
                 if lake.has_data(lake_dir, "maintenance_requests") else "SELECT NULL::VARCHAR AS request_id WHERE false")
        column, what = "request_id", "unknown request_id (matches no maintenance request, changes nothing)"
    n, ids = con.execute(
        f"SELECT count(*), list(DISTINCT {column} ORDER BY {column})[1:5] FROM ev v WHERE reason IS NULL "
        f"AND NOT EXISTS (SELECT 1 FROM ({known}) k WHERE k.{column} = v.{column})").fetchall()[0]
    return f"{n} rows kept but flagged: {what}: {', '.join(ids)}" if n else None


def ingest_event_file(con: duckdb.DuckDBPyConnection, lake_dir: Path, layout: Layout, out: FileOutcome,
                      now: datetime) -> tuple[int, pa.Table]:
    """Validate and store a maintenance-event or decision file held in view `raw`. Returns the number
    of rows read and the quarantined rows (row_number, reason, detail, raw_ts, raw_eq, raw_sensor, raw_value)."""
    if layout.kind == "maintenance_events":
        dataset, schema, key = "maintenance_events", schemas.MAINTENANCE_EVENTS, ("equipment_id", "timestamp", "event_type")
        ts = parse_timestamp_sql(_text(layout, "timestamp"))
        con.execute(f"""CREATE OR REPLACE TEMP TABLE ev AS
            SELECT {ROW} AS row_number, {_text(layout, 'timestamp')} AS raw_ts, {_text(layout, 'equipment_id')} AS raw_eq,
                   NULL AS raw_sensor, {_text(layout, 'event_type')} AS raw_value,
                   {ts} AS timestamp, {_text(layout, 'equipment_id')} AS equipment_id,
                   lower({_text(layout, 'event_type')}) AS event_type, {_text(layout, 'request_id')} AS request_id,
                   {_text(layout, 'technician_id')} AS technician_id, {_text(layout, 'notes')} AS notes
            FROM raw""")
        con.execute(f"""ALTER TABLE ev ADD COLUMN reason VARCHAR; UPDATE ev SET reason = CASE
            WHEN raw_ts IS NULL THEN 'missing timestamp'
            WHEN timestamp IS NULL THEN 'unparseable timestamp'
            WHEN timestamp < TIMESTAMPTZ '{EARLIEST}' THEN 'timestamp before 2000-01-01'
            WHEN equipment_id IS NULL THEN 'missing equipment_id'
            WHEN event_type IS NULL OR event_type NOT IN {_in(schemas.EVENT_TYPES)} THEN 'unknown event_type' END""")
        detail = f"'expected one of {', '.join(schemas.EVENT_TYPES)}'"
    else:
        dataset, schema, key = "decisions", schemas.DECISIONS, ("request_id", "decision", "operator", "justification")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE ev AS
            SELECT {ROW} AS row_number, NULL AS raw_ts, NULL AS raw_eq, {_text(layout, 'request_id')} AS raw_sensor,
                   {_text(layout, 'decision')} AS raw_value, {_text(layout, 'request_id')} AS request_id,
                   lower({_text(layout, 'decision')}) AS decision, {_text(layout, 'operator')} AS operator,
                   {_text(layout, 'justification')} AS justification, ?::TIMESTAMPTZ AS decided_at
            FROM raw""", [now])
        con.execute(f"""ALTER TABLE ev ADD COLUMN reason VARCHAR; UPDATE ev SET reason = CASE
            WHEN request_id IS NULL THEN 'missing request_id'
            WHEN decision IS NULL OR decision NOT IN {_in(schemas.DECISION_VALUES)} THEN 'unknown decision' END""")
        detail = f"'expected one of {', '.join(schemas.DECISION_VALUES)}'"

    (n_read,) = con.execute("SELECT count(*) FROM ev").fetchall()[0]
    quarantine = con.sql(
        f"SELECT row_number, reason, CASE WHEN reason LIKE 'unknown%' THEN {detail} END AS detail, "
        "raw_ts, raw_eq, raw_sensor, raw_value FROM ev WHERE reason IS NOT NULL"
    ).to_arrow_table()
    # Earlier files' rows, excluding this file's own partition (a re-run rewrites it).
    own = f"file_sha256 <> '{out.sha256}'"
    earlier = lake.read_dataset(lake_dir, dataset, where=own, con=con) if lake.has_data(lake_dir, dataset) else schema.empty_table()
    con.register("earlier", earlier.select(list(key)) if earlier.num_rows else pa.table({k: pa.array([], pa.string()) for k in key}))
    match = " AND ".join(f"e.{k} IS NOT DISTINCT FROM v.{k}" for k in key)
    names = [n for n in schema.names if n not in ("source_file", "file_sha256", "ingested_at")]
    select = ", ".join(f"v.{n}" for n in names if n != "row_number")
    kept = con.sql(
        f"""SELECT {select}, ? AS source_file, ? AS file_sha256, v.row_number{', ?::TIMESTAMPTZ AS ingested_at' if 'ingested_at' in schema.names else ''}
        FROM (SELECT *, row_number() OVER (PARTITION BY {', '.join(key)} ORDER BY row_number) AS rn FROM ev WHERE reason IS NULL) v
        WHERE v.rn = 1 AND NOT EXISTS (SELECT 1 FROM earlier e WHERE {match})""",
        params=[out.source_file, out.sha256] + ([now] if "ingested_at" in schema.names else []),
    ).to_arrow_table()
    con.unregister("earlier")
    out.reason = _unknown_ids(con, lake_dir, layout.kind)
    lake.write_partition(lake_dir, dataset, "file", out.sha256, kept.select(schema.names).cast(schema))
    out.rows_kept = kept.num_rows
    out.rows_duplicate = n_read - quarantine.num_rows - kept.num_rows
    return n_read, quarantine
