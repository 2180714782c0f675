"""What every report section reads: the report window and a read-only view of the lake.

A report covers whole UTC days `start`..`end` (inclusive) and is judged "as of" `min(now, end + 1 day)`:
nothing after that instant is counted, so a report of a past day built today gives that day's numbers
(except datasets that only keep their current state, e.g. request statuses, which say so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smart_maintenance import lake, storage


@dataclass(frozen=True)
class Window:
    start: date
    end: date  # inclusive
    now: datetime

    @property
    def begin(self) -> pd.Timestamp:
        return pd.Timestamp(self.start, tz="UTC")

    @property
    def stop(self) -> pd.Timestamp:
        return pd.Timestamp(self.end + timedelta(days=1), tz="UTC")

    @property
    def as_of(self) -> pd.Timestamp:
        now = pd.Timestamp(self.now)
        now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
        return min(now, self.stop)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def bucket(self) -> str:
        """Time series granularity: hourly for a day or two, daily beyond."""
        return "hour" if self.days <= 2 else "day"

    def describe(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days,
                "as_of": iso(self.as_of), "generated_at": iso(pd.Timestamp(self.now)), "bucket": self.bucket}


class LakeView:
    """DuckDB over the lake; absent datasets read as empty frames, never as errors."""

    def __init__(self, lake_dir: Path):
        self.dir = storage.as_path(lake_dir)
        self.con = lake.connect()

    def has(self, dataset: str) -> bool:
        return lake.has_data(self.dir, dataset)

    def scan(self, dataset: str) -> str:
        return lake.scan_sql(self.dir, dataset)

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        return lake.frame(self.con.sql(query, params=params or None))

    def table(self, dataset: str, where: str = "", params: list | None = None) -> pd.DataFrame:
        """A small dataset (alerts, ledger, events, requests...) as pandas; empty if absent."""
        if not self.has(dataset):
            return pd.DataFrame()
        return self.sql(f"SELECT * FROM {self.scan(dataset)}" + (f" WHERE {where}" if where else ""), params)


def utc(value: Any) -> pd.Timestamp | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def utc_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """A timestamp column as UTC (missing column: all NaT)."""
    if column not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    return pd.to_datetime(frame[column], utc=True, errors="coerce")


def iso(value: Any) -> str | None:
    ts = utc(value)
    return None if ts is None else ts.isoformat()


def plain(value: Any, digits: int = 4) -> Any:
    """A JSON-ready scalar: ISO timestamps, None for missing, rounded floats, Python ints."""
    if isinstance(value, (pd.Timestamp, datetime)):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v, digits) for v in value]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else round(float(value), digits)
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value if isinstance(value, (str, dict)) else str(value)


def records(frame: pd.DataFrame, columns: list[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of a frame as JSON-ready dicts (only `columns` that exist, in that order)."""
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    rows = frame[cols].head(limit) if limit else frame[cols]
    return [{c: plain(v) for c, v in zip(cols, row)} for row in rows.itertuples(index=False, name=None)]


def share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
