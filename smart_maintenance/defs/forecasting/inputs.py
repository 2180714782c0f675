"""What the forecasting assets read, kept by the process while the files it came from are unchanged.

Hourly medians of the readings are aggregated once per day partition: a bin lies within one UTC day
(the partition key) because the bin size divides a day, so the bins of a day depend on that day's
file only. A micro-batch rewrites the latest day or two, and only those are read again, once for
equipment health and failure forecasts together. (The reference tables: `read_reference` keeps them.)

A file is known by its identity (inode, size, modification time), which every lake write changes (it
replaces the file) and so does an edit of a reference file. Remote files are read every time.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from smart_maintenance import lake, storage
from smart_maintenance.reference import read_reference

COLUMNS = {"timestamp": "datetime64[us, UTC]", "equipment_id": object, "sensor_id": object, "value": float, "sensor_type": object}

_DAYS: dict[str, tuple[tuple, pd.DataFrame]] = {}  # file -> (its identity, its bins), for the files of the last request
_LOCK = threading.Lock()


def hourly(lake_root: Path, last_day: str, days: int, step: str, reuse: bool = True) -> pd.DataFrame:
    """Median (and any sensor_type) of every sensor per `step` bin over `days` days ending with
    `last_day`, ordered by equipment_id, sensor_id, timestamp: the same rows as one query over the days.
    reuse=False: read every day and keep nothing (a one-off long window, e.g. a year to learn from)."""
    end = datetime.fromisoformat(last_day)
    wanted = [(end - timedelta(days=i)).date().isoformat() for i in range(days - 1, -1, -1)]
    files = lake.partition_files(lake_root, "sensor_readings", "date", wanted)
    if not files:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in COLUMNS.items()})
    if not reuse or pd.Timedelta(days=1) % pd.Timedelta(step):  # bins across midnight would be split
        return _aggregate(files, step)
    with _LOCK:
        identity = {f: storage.file_identity(f) for f in files}
        parts = {f: _DAYS[str(f)][1] for f in files if _unchanged(f, identity[f])}
        stale = [f for f in files if f not in parts]
        if stale:
            parts |= _by_day(_aggregate(stale, step, with_day=True), stale)
        _DAYS.clear()
        _DAYS.update({str(f): (identity[f], parts[f]) for f in files if identity[f] is not None})
    frame = pd.concat([parts[f] for f in files], ignore_index=True)
    return frame.sort_values(["equipment_id", "sensor_id", "timestamp"], kind="stable", ignore_index=True)


def reference(folder: Path, name: str) -> pd.DataFrame:
    """A reference table (`read_reference`, parsed once per edit) as pandas, which callers may change."""
    return read_reference(folder, name).to_pandas()


def _aggregate(files: list[Path], step: str, with_day: bool = False) -> pd.DataFrame:
    """One query over the files; with_day: also each bin's day partition (`day`)."""
    seconds = int(pd.Timedelta(step).total_seconds())
    day = ", CAST(date AS VARCHAR) AS day" if with_day else ""
    return lake.frame(lake.connect().sql(
        f"""SELECT time_bucket(INTERVAL '{seconds} seconds', timestamp) AS timestamp,
                   equipment_id, sensor_id, median(value) AS value, any_value(sensor_type) AS sensor_type{day}
            FROM {lake.files_sql(files)} GROUP BY ALL ORDER BY equipment_id, sensor_id, timestamp"""))


def _by_day(frame: pd.DataFrame, files: list[Path]) -> dict[Path, pd.DataFrame]:
    """The bins of each file, found by its day (the file's folder is `date=<day>`)."""
    days = dict(tuple(frame.groupby("day", sort=False)))
    empty = frame.iloc[:0]
    return {f: days.get(f.parent.name.removeprefix("date="), empty).drop(columns="day").reset_index(drop=True) for f in files}


def _unchanged(path: Path, identity: tuple | None) -> bool:
    known = _DAYS.get(str(path))
    return identity is not None and known is not None and known[0] == identity
