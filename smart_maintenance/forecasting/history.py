"""Readings on a regular grid, and the runs of an equipment between failures.

A *run* starts at the equipment's first reading or at its last restoring event (failure, corrective
repair, replacement): after it the machine is as good as new, so older readings say nothing about its
current wear. A *run-to-failure history* is a run that ended in a `failure` event; each failure event
ends exactly one history. Everything takes `as_of` explicitly and ignores what lies after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.detection.readings import prepare_readings
from smart_maintenance.forecasting.config import RESTORING_EVENTS

GRID_COLUMNS = ["equipment_id", "sensor_id", "timestamp", "value"]
HISTORY_COLUMNS = ["history_id", "equipment_id", "start", "failure_at"]


def utc(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def aggregate(readings: pd.DataFrame, step: str | pd.Timedelta, as_of=None) -> pd.DataFrame:
    """Median of each sensor's readings per grid bin (bins labelled by their start, UTC).

    Accepts raw readings or readings already on the grid; rows after `as_of` are dropped. The median
    keeps a spike or a short stop from moving a bin.
    """
    if not len(readings):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(GRID_COLUMNS, ["object", "object", "datetime64[us, UTC]", "float64"])})
    frame = prepare_readings(readings)
    if as_of is not None:
        frame = frame[frame["timestamp"] <= utc(as_of)]
    frame = frame[np.isfinite(frame["value"].to_numpy())]
    frame = frame.assign(timestamp=frame["timestamp"].dt.floor(pd.Timedelta(step)))
    out = frame.groupby(["equipment_id", "sensor_id", "timestamp"], sort=True, observed=True)["value"].median()
    return out.reset_index()[GRID_COLUMNS]


def prepare_events(events: pd.DataFrame | None) -> pd.DataFrame:
    """Maintenance events with `equipment_id`, `timestamp` (UTC), `event_type`; time-sorted."""
    if events is None or not len(events):
        return pd.DataFrame({"equipment_id": pd.Series(dtype=object), "timestamp": pd.Series(dtype="datetime64[us, UTC]"),
                             "event_type": pd.Series(dtype=object)})  # fmt: skip
    time_col = "timestamp" if "timestamp" in events else "event_time"
    ts = pd.to_datetime(events[time_col], utc=True, format="mixed").dt.as_unit("us")
    out = pd.DataFrame({"equipment_id": events["equipment_id"].astype(str).to_numpy(), "timestamp": ts.to_numpy(),
                        "event_type": events["event_type"].astype(str).str.strip().str.lower().to_numpy()})  # fmt: skip
    out["timestamp"] = out["timestamp"].dt.tz_localize("UTC") if out["timestamp"].dt.tz is None else out["timestamp"]
    return out.sort_values(["equipment_id", "timestamp"], kind="stable").reset_index(drop=True)


def run_starts(events: pd.DataFrame | None, as_of) -> pd.Series:
    """Per equipment, the time of its last restoring event at or before `as_of` (missing: none yet)."""
    ev = prepare_events(events)
    ev = ev[(ev["timestamp"] <= utc(as_of)) & ev["event_type"].isin(RESTORING_EVENTS)]
    return ev.groupby("equipment_id")["timestamp"].max()


def current_runs(grid: pd.DataFrame, events: pd.DataFrame | None, as_of) -> pd.DataFrame:
    """Grid rows of each equipment's current run: after its last restoring event, up to `as_of`."""
    grid = grid[grid["timestamp"] <= utc(as_of)]
    starts = run_starts(events, as_of)
    if not len(starts):
        return grid
    start = grid["equipment_id"].map(starts)
    return grid[start.isna() | (grid["timestamp"] > start)]


def failure_histories(events: pd.DataFrame | None, grid: pd.DataFrame, as_of) -> pd.DataFrame:
    """One row per failure event at or before `as_of`: the run that led to it.

    start: the previous restoring event of the equipment, else its first grid row. A failure with no
    earlier data (or two failure rows for one stop) gives no history.
    """
    ev = prepare_events(events)
    ev = ev[(ev["timestamp"] <= utc(as_of)) & ev["event_type"].isin(RESTORING_EVENTS)]
    first = grid.groupby("equipment_id")["timestamp"].min() - pd.Timedelta(microseconds=1)  # (start, end]
    rows = []
    for equipment_id, part in ev.groupby("equipment_id", sort=True):
        previous = first.get(equipment_id)
        for ts, kind in zip(part["timestamp"], part["event_type"], strict=True):
            if kind == "failure" and previous is not None and previous < ts:
                rows.append((f"{equipment_id}@{ts.isoformat()}", equipment_id, previous, ts))
            previous = ts
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def history_rows(grid: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
    """Grid rows inside each history (start, failure_at], tagged with history_id and failure_at."""
    parts = []
    by_equipment = dict(tuple(grid.groupby("equipment_id", sort=False)))
    for h in histories.itertuples(index=False):
        part = by_equipment.get(h.equipment_id)
        if part is None:
            continue
        part = part[(part["timestamp"] > h.start) & (part["timestamp"] <= h.failure_at)]
        parts.append(part.assign(history_id=h.history_id, failure_at=h.failure_at))
    if not parts:
        return grid.iloc[:0].assign(history_id=pd.Series(dtype=object), failure_at=pd.Series(dtype="datetime64[us, UTC]"))
    return pd.concat(parts, ignore_index=True)
