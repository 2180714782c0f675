"""Row-level validation of readings: every row is either a clean reading or a quarantine row with a reason.

Long and wide files are first brought to one shape (one row per reading, raw text values), then one
SQL statement parses timestamps and values and names the first rule a row breaks. The rules, in order:

| reason | when |
|---|---|
| missing timestamp / unparseable timestamp | empty, or neither ISO 8601 nor epoch s/ms/us/ns |
| timestamp before 2000-01-01 | older than the lake's first partition |
| timestamp in the future | later than `now` + the tolerance |
| missing equipment_id / missing sensor_id | key field empty |
| missing value / non-numeric value / non-finite value | empty, not a number, NaN or +-inf (also 1e400, which overflows) |
| invalid quality | `quality` present but not a number in 0..1 |
| below valid range / above valid range | outside `valid_min`/`valid_max` of the sensor in reference/sensors.csv |

Numbers are plain decimals with a dot (`40.5`, `-1e3`). In a file whose delimiter is not a comma, a
decimal comma is accepted too (`40,5` is 40.5: European exports). Thousands separators are never
guessed: `1,234.5`, `1.234,5`, `1 234`, and any comma inside a number of a comma-delimited file
(`"1,234"`: 1234 or 1.234?) are quarantined as `non-numeric value`, with a detail saying why.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from smart_maintenance.ingest.layout import Layout
from smart_maintenance.ingest.source import ROW

EARLIEST = "2000-01-01 00:00:00+00"


def _col(i: int) -> str:
    return f"c{i}"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def normalized_readings_sql(raw: str, layout: Layout, default_equipment: str) -> str:
    """SQL selecting one row per reading from table `raw`: ROW, raw_ts, raw_eq, raw_sensor, raw_value,
    raw_type, raw_unit, raw_quality (all text)."""
    r = layout.roles
    # A file with an equipment_id column names it on every row (an empty cell is a missing key);
    # otherwise every row belongs to the file's default equipment (sub-folder name or file stem).
    eq = _col(r["equipment_id"]) if "equipment_id" in r else _sql_str(default_equipment)
    opt = {k: (_col(r[k]) if k in r else "NULL") for k in ("sensor_type", "unit", "quality")}
    if layout.kind == "readings_long":
        return (
            f"SELECT {ROW}, {_col(r['timestamp'])} AS raw_ts, {eq} AS raw_eq, {_col(r['sensor_id'])} AS raw_sensor, "
            f"{_col(r['value'])} AS raw_value, {opt['sensor_type']} AS raw_type, {opt['unit']} AS raw_unit, "
            f"{opt['quality']} AS raw_quality FROM {raw}"
        )
    # Wide: one reading per non-empty cell. Empty cells are "not sampled", not readings.
    names = list(layout.sensor_columns)
    cols = ", ".join(_col(layout.sensor_columns[n]) for n in names)
    ids = ", ".join(_sql_str(n) for n in names)
    return (
        f"SELECT {ROW}, raw_ts, raw_eq, raw_sensor, raw_value, NULL AS raw_type, NULL AS raw_unit, NULL AS raw_quality "
        f"FROM (SELECT {ROW}, {_col(r['timestamp'])} AS raw_ts, {eq} AS raw_eq, "
        f"unnest([{ids}]) AS raw_sensor, unnest([{cols}]) AS raw_value FROM {raw}) "
        f"WHERE raw_value IS NOT NULL AND trim(raw_value) <> ''"
    )


def parse_timestamp_sql(expr: str) -> str:
    """ISO 8601 (offset or naive = UTC) or epoch seconds/milliseconds/microseconds/nanoseconds."""
    t = f"trim({expr})"
    num = f"TRY_CAST({t} AS DOUBLE)"
    micros = (
        f"CASE WHEN abs({num}) < 1e11 THEN {num} * 1e6 WHEN abs({num}) < 1e14 THEN {num} * 1e3 "
        f"WHEN abs({num}) < 1e17 THEN {num} WHEN abs({num}) < 9e18 THEN {num} / 1e3 END"
    )
    return (
        f"CASE WHEN regexp_full_match({t}, '[+-]?[0-9]+(\\.[0-9]+)?') "
        f"THEN TRY_CAST(make_timestamp(CAST({micros} AS BIGINT)) AS TIMESTAMPTZ) "
        f"ELSE TRY_CAST({t} AS TIMESTAMPTZ) END"
    )


def first_column_is_time(con: duckdb.DuckDBPyConnection, raw: str) -> bool:
    """Whether most of the first column's leading values parse as timestamps (wide files)."""
    ok, total = con.execute(
        f"SELECT count({parse_timestamp_sql('c0')}), count(c0) FROM (SELECT c0 FROM {raw} LIMIT 50)"
    ).fetchall()[0]
    return total > 0 and ok >= 0.8 * total and not _is_plain_number_column(con, raw)


def _is_plain_number_column(con: duckdb.DuckDBPyConnection, raw: str) -> bool:
    # Small integers (0, 1, 2...) parse as epoch seconds in 1970 but are not a time column.
    (small,) = con.execute(f"SELECT count(*) FILTER (WHERE abs(TRY_CAST(c0 AS DOUBLE)) < 1e8) FROM (SELECT c0 FROM {raw} LIMIT 50)").fetchall()[0]
    return small > 0


def parse_number_sql(expr: str, decimal_comma: bool) -> str:
    """A DOUBLE from text, or NULL; with `decimal_comma`, `40,5` (one comma, no dot) is 40.5."""
    t = f"trim({expr})"
    if not decimal_comma:
        return f"TRY_CAST({t} AS DOUBLE)"
    return (f"CASE WHEN regexp_full_match({t}, '[+-]?[0-9]*,[0-9]+([eE][+-]?[0-9]+)?') "
            f"THEN TRY_CAST(replace({t}, ',', '.') AS DOUBLE) ELSE TRY_CAST({t} AS DOUBLE) END")


SEPARATOR_DETAIL = ("a number with thousands separators or a comma is ambiguous (1,234 = 1234 or 1.234?); "
                    "re-export plain numbers such as 1234.5")


def checked_readings_sql(normalized: str, now: datetime, future_tolerance_s: float, decimal_comma: bool = False) -> str:
    """Parse and judge every normalized reading. Needs views `ref_sensors` and `ref_equipment`."""
    limit = now.timestamp() + future_tolerance_s
    ts = parse_timestamp_sql("n.raw_ts")
    return f"""
WITH p AS (
  SELECT n.*, {ts} AS ts, {parse_number_sql('n.raw_value', decimal_comma)} AS v,
         nullif(trim(n.raw_eq), '') AS eq, nullif(trim(n.raw_sensor), '') AS sid,
         {parse_number_sql('n.raw_quality', decimal_comma)} AS q
  FROM ({normalized}) n
)
SELECT p.{ROW} AS row_number, p.raw_ts, p.raw_eq, p.raw_sensor, p.raw_value,
       p.ts AS timestamp, p.eq AS equipment_id, p.sid AS sensor_id, p.v AS value,
       coalesce(nullif(trim(p.raw_type), ''), s.sensor_type) AS sensor_type,
       coalesce(nullif(trim(p.raw_unit), ''), s.unit) AS unit,
       p.q AS quality,
       CASE WHEN s.sensor_id IS NOT NULL THEN 'known'
            WHEN e.equipment_id IS NOT NULL THEN 'unknown_sensor' ELSE 'unknown_equipment' END AS reference_status,
       CASE
         WHEN p.raw_ts IS NULL OR trim(p.raw_ts) = '' THEN 'missing timestamp'
         WHEN p.ts IS NULL THEN 'unparseable timestamp'
         WHEN p.ts < TIMESTAMPTZ '{EARLIEST}' THEN 'timestamp before 2000-01-01'
         WHEN epoch(p.ts) > {limit} THEN 'timestamp in the future'
         WHEN p.eq IS NULL THEN 'missing equipment_id'
         WHEN p.sid IS NULL THEN 'missing sensor_id'
         WHEN p.raw_value IS NULL OR trim(p.raw_value) = '' THEN 'missing value'
         WHEN p.v IS NULL THEN 'non-numeric value'
         WHEN isnan(p.v) OR isinf(p.v) THEN 'non-finite value'
         WHEN p.raw_quality IS NOT NULL AND trim(p.raw_quality) <> '' AND (p.q IS NULL OR p.q < 0 OR p.q > 1) THEN 'invalid quality'
         WHEN p.v < s.valid_min THEN 'below valid range'
         WHEN p.v > s.valid_max THEN 'above valid range'
       END AS reason,
       CASE
         WHEN p.v < s.valid_min THEN 'value ' || p.v || ' < valid_min ' || s.valid_min
         WHEN p.v > s.valid_max THEN 'value ' || p.v || ' > valid_max ' || s.valid_max
         WHEN p.ts IS NOT NULL AND epoch(p.ts) > {limit} THEN 'more than {int(future_tolerance_s)} s after {now.isoformat()}'
         WHEN p.v IS NULL AND regexp_matches(trim(p.raw_value), '[0-9][,. ][0-9]') THEN '{SEPARATOR_DETAIL}'
       END AS detail
FROM p
LEFT JOIN ref_sensors s ON s.equipment_id = p.eq AND s.sensor_id = p.sid
LEFT JOIN ref_equipment e ON e.equipment_id = p.eq
"""
