"""Shared fixtures: a temp data root with small reference data, and helpers to drop landing files."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))

from smart_maintenance import lake  # noqa: E402
from smart_maintenance.config import DataRoot  # noqa: E402

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)

EQUIPMENT_CSV = """equipment_id,site,type,criticality
pump-1,north,pump,high
fan-2,south,fan,low
"""
SENSORS_CSV = """equipment_id,sensor_id,sensor_type,unit,valid_min,valid_max,alarm_limit
pump-1,temp,temperature,degC,-40,150,90
pump-1,vib,vibration_rms,mm/s,0,50,7.1
fan-2,temp,temperature,degC,-40,150,80
"""
TECHNICIANS_CSV = """technician_id,name,skills,shift_start,shift_end,timezone
t1,Ada,mechanical;electrical,08:00,16:00,Europe/Berlin
"""


@pytest.fixture(autouse=True)
def _no_stale_dagster_state_storage():
    """Each Dagster instance publishes its state storage in a context variable and restores the previous
    value when closed; instances closed out of order (module- and function-scoped fixtures) can leave it
    pointing at a closed instance, and the next Definitions built fails with "Attempted to resolve
    undefined DagsterInstance weakref". Start every test from a clean slate."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield


def write_reference(folder: Path) -> None:
    """The small reference data (two machines, three sensors, one technician) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "equipment.csv").write_text(EQUIPMENT_CSV)
    (folder / "sensors.csv").write_text(SENSORS_CSV)
    (folder / "technicians.csv").write_text(TECHNICIANS_CSV)


@pytest.fixture
def root(tmp_path: Path) -> DataRoot:
    data = DataRoot(tmp_path / "data").ensure()
    write_reference(data.reference)
    return data


def drop(root: DataRoot, relpath: str, content: str | bytes) -> Path:
    """Write a file into landing/ (creating sub-folders)."""
    path = root.landing / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def readings(root: DataRoot) -> list[tuple]:
    """(equipment_id, sensor_id, timestamp ISO, value) of every stored reading, sorted."""
    table = lake.read_dataset(root.lake, "sensor_readings")
    if table.num_rows == 0:
        return []
    rows = zip(*(table.column(c).to_pylist() for c in ("equipment_id", "sensor_id", "timestamp", "value")))
    return sorted((e, s, t.isoformat(), v) for e, s, t, v in rows)


def quarantine_reasons(root: DataRoot) -> list[tuple[str, int, str]]:
    """(source_file, row_number, reason) of every quarantined row, sorted."""
    table = lake.read_dataset(root.lake, "quarantine")
    if table.num_rows == 0:
        return []
    return sorted(zip(*(table.column(c).to_pylist() for c in ("source_file", "row_number", "reason"))))
