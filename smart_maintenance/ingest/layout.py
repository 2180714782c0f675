"""What a landing file holds, told from its columns (DESIGN.md, "Contract: input files").

Four kinds: long readings, wide readings, maintenance events, decisions. Column names are matched
case-insensitively after trimming; the result maps each role to the source column index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smart_maintenance.ingest.source import UnreadableFile

TIMESTAMP_NAMES = ("timestamp", "datetime", "time", "ts")
LONG_OPTIONAL = ("equipment_id", "sensor_type", "unit", "quality")
EVENT_OPTIONAL = ("request_id", "technician_id", "notes")
DECISION_OPTIONAL = ("operator", "justification")


@dataclass(frozen=True)
class Layout:
    kind: str  # readings_long, readings_wide, maintenance_events, decisions
    roles: dict[str, int]  # role -> column index, e.g. {"timestamp": 0, "sensor_id": 1}
    sensor_columns: dict[str, int] = field(default_factory=dict)  # wide: sensor id -> column index


def detect_layout(columns: list[str], first_column_is_time: bool) -> Layout:
    """Classify a file by its header. `first_column_is_time` says whether the first column's values
    parse as timestamps (used for wide files whose time column has an unusual name)."""
    index: dict[str, int] = {}
    for i, name in enumerate(columns):
        index.setdefault(name.lower(), i)

    def pick(*names: str) -> dict[str, int]:
        return {n: index[n] for n in names if n in index}

    if {"request_id", "decision"} <= index.keys():
        return Layout("decisions", pick("request_id", "decision", *DECISION_OPTIONAL))

    event_time = next((n for n in ("timestamp", "event_time") if n in index), None)
    if {"equipment_id", "event_type"} <= index.keys() and event_time:
        roles = pick("equipment_id", "event_type", *EVENT_OPTIONAL) | {"timestamp": index[event_time]}
        return Layout("maintenance_events", roles)

    time_name = next((n for n in TIMESTAMP_NAMES if n in index), None)
    if time_name and {"sensor_id", "value"} <= index.keys():
        roles = pick("sensor_id", "value", *LONG_OPTIONAL) | {"timestamp": index[time_name]}
        return Layout("readings_long", roles)

    if time_name is None and columns and first_column_is_time:
        time_name = columns[0].lower()
    if time_name is None and len(columns) == 1 and any(d in columns[0] for d in ",;\t|"):
        raise UnreadableFile(
            f"the header is read as one column ({columns[0][:80]!r}): the header and the rows seem to use "
            "different delimiters; export the file with one delimiter throughout")
    if time_name is None:
        raise UnreadableFile(
            "no timestamp column: expected a column named one of "
            f"{', '.join(TIMESTAMP_NAMES)} (or a first column of dates/times); found: {', '.join(columns[:20])}"
        )
    roles = {"timestamp": index[time_name]} | pick("equipment_id")
    used = set(roles.values())
    sensors = {name: i for i, name in enumerate(columns) if i not in used and name}
    if not sensors:
        raise UnreadableFile("the file has a timestamp column but no sensor columns")
    return Layout("readings_wide", roles, sensors)
