"""Reference data: equipment, sensors and technicians from `reference/*.csv`.

Users edit these files by hand, so reading is forgiving: missing files give empty tables, missing
optional columns get defaults, and ids are trimmed strings. Readings of equipment or sensors that are
not listed here are still ingested (flagged `unknown_*`), never dropped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from smart_maintenance import schemas, storage

FILES = {"equipment": "equipment.csv", "sensors": "sensors.csv", "technicians": "technicians.csv"}
SCHEMAS = {"equipment": schemas.EQUIPMENT, "sensors": schemas.SENSORS, "technicians": schemas.TECHNICIANS}
DEFAULTS = {
    "equipment": {"site": "unknown", "type": "unknown", "criticality": "medium"},
    "sensors": {"sensor_type": None, "unit": None, "valid_min": None, "valid_max": None, "alarm_limit": None},
    "technicians": {"skills": "", "shift_start": "08:00", "shift_end": "16:00", "timezone": "UTC"},
}


class ReferenceError(ValueError):
    """A reference file that cannot be used (e.g. a required id column is missing)."""


def read_reference(folder: Path, name: str) -> pa.Table:
    """One reference table, cast to its schema; an absent file yields an empty table.

    Parsed once per edit of a local file and kept by the process (Arrow tables are immutable): every
    asset of a micro-batch reads the same three small files, ~5 ms each time."""
    path = folder / FILES[name]
    identity = storage.file_identity(path)
    with _LOCK:
        known = _PARSED.get(str(path))
    if identity is not None and known is not None and known[0] == identity:
        return known[1]
    table = _parse(path, name)
    # Not kept while the file is within RACY_SECONDS of its last change: an edit of the same size in the
    # same clock tick as this read would keep its (inode, size, mtime) ("racy git").
    if identity is not None and time.time_ns() - identity[2] > RACY_SECONDS * 1e9:
        with _LOCK:
            _PARSED[str(path)] = (identity, table)
    return table


RACY_SECONDS = 2
_PARSED: dict[str, tuple[tuple, pa.Table]] = {}  # file -> (its identity when parsed, its table)
_LOCK = threading.Lock()


def _parse(path: Path, name: str) -> pa.Table:
    schema = SCHEMAS[name]
    if not path.exists():
        return schema.empty_table()
    with path.open("rb") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False, skipinitialspace=True)
    frame.columns = [c.strip().lower() for c in frame.columns]
    frame = frame.rename(columns={"id": schema.names[0]})
    required = [schema.names[0]] + (["sensor_id"] if name == "sensors" else [])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ReferenceError(f"{path.name} has no column {', '.join(missing)} (columns: {', '.join(frame.columns)})")
    for column, default in DEFAULTS[name].items():
        if column not in frame.columns:
            frame[column] = default
    frame = frame[schema.names].copy()
    for field in schema:
        col = frame[field.name].astype("string").str.strip().replace("", pd.NA)
        if pa.types.is_floating(field.type):
            frame[field.name] = pd.to_numeric(col, errors="coerce").astype("float64")
        else:
            frame[field.name] = col.astype(object).where(col.notna(), None)
    for column, default in DEFAULTS[name].items():
        if default is not None:
            frame[column] = frame[column].fillna(default)
    frame = frame.dropna(subset=required).drop_duplicates(subset=required, keep="last")
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


@dataclass(frozen=True)
class Reference:
    equipment: pa.Table
    sensors: pa.Table
    technicians: pa.Table

    @classmethod
    def load(cls, folder: Path) -> Reference:
        return cls(*(read_reference(folder, name) for name in ("equipment", "sensors", "technicians")))
