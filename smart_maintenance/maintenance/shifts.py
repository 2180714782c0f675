"""Technician availability: shifts in local time and time zone -> UTC intervals on the planning grid.

A technician works `shift_start`..`shift_end` (HH:MM local, in the IANA `timezone`) on workdays (Mon-Fri
by default; an optional `workdays` column such as "mon;tue;wed;thu;fri;sat" overrides per technician). A
shift whose end is not after its start ends the next day (night shift), and it belongs to the day it starts.
Local times go through zoneinfo, so a shift keeps its local hours across daylight-saving changes (and is
one hour shorter or longer on the night of the change). Holidays (local dates) drop the shifts starting
on them; absences (technician_id or '*' for everyone, start, end in UTC) are cut out. Intervals are
clipped to [start, end) and shrunk to the grid (start rounded up, end rounded down): a job planned in a
window never starts or ends off the grid.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WINDOW_COLUMNS = ["technician_id", "start", "end"]


def parse_workdays(text: object, default: tuple[int, ...]) -> tuple[int, ...]:
    """'mon;tue;...' or '0;1;...' (Monday=0) -> weekday numbers; blank -> default."""
    if text is None or (not isinstance(text, str) and pd.isna(text)) or not str(text).strip():
        return default
    days = set()
    for part in str(text).replace(",", ";").split(";"):
        p = part.strip().lower()[:3]
        if p:
            days.add(int(p) if p.isdigit() else DAY_NAMES.index(p))
    return tuple(sorted(days))


def _hhmm(text: str) -> time:
    h, m = str(text).strip().split(":")[:2]
    return time(int(h) % 24, int(m))


def floor_to(ts: pd.Timestamp, grain: timedelta) -> pd.Timestamp:
    return ts.floor(pd.Timedelta(grain))


def ceil_to(ts: pd.Timestamp, grain: timedelta) -> pd.Timestamp:
    return ts.ceil(pd.Timedelta(grain))


def expand_shifts(
    technicians: pd.DataFrame,
    start: datetime | pd.Timestamp,
    end: datetime | pd.Timestamp,
    grain: timedelta = timedelta(minutes=15),
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4),
    holidays: Iterable[date] | None = None,
    absences: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """UTC availability windows (technician_id, start, end), sorted, non-overlapping per technician."""
    start, end = _utc(start), _utc(end)
    off = set(holidays or ())
    rows = []
    for t in technicians.to_dict("records"):
        tz = ZoneInfo(str(t.get("timezone") or "UTC"))
        s_local, e_local = _hhmm(t.get("shift_start") or "08:00"), _hhmm(t.get("shift_end") or "16:00")
        days = parse_workdays(t.get("workdays"), workdays)
        first = start.tz_convert(tz).date() - timedelta(days=1)
        last = end.tz_convert(tz).date()
        d = first
        while d <= last:
            if d.weekday() in days and d not in off:
                a = datetime.combine(d, s_local, tzinfo=tz)
                b = datetime.combine(d + timedelta(days=1) if e_local <= s_local else d, e_local, tzinfo=tz)
                rows.append((str(t["technician_id"]), pd.Timestamp(a).tz_convert("UTC"), pd.Timestamp(b).tz_convert("UTC")))
            d += timedelta(days=1)
    windows = pd.DataFrame(rows, columns=WINDOW_COLUMNS)
    if len(windows) == 0:
        return _empty()
    windows = _subtract(windows, absences)
    windows["start"] = windows["start"].clip(lower=start).map(lambda x: ceil_to(x, grain))
    windows["end"] = windows["end"].clip(upper=end).map(lambda x: floor_to(x, grain))
    windows = windows[windows["end"] > windows["start"]]
    out = windows.sort_values(["technician_id", "start"]).reset_index(drop=True)
    for c in ("start", "end"):
        out[c] = pd.to_datetime(out[c], utc=True).astype("datetime64[us, UTC]")
    return out


def _subtract(windows: pd.DataFrame, absences: pd.DataFrame | None) -> pd.DataFrame:
    if absences is None or len(absences) == 0:
        return windows
    ab = absences.copy()
    ab["start"], ab["end"] = pd.to_datetime(ab["start"], utc=True), pd.to_datetime(ab["end"], utc=True)
    out = []
    for tech, a, b in windows.itertuples(index=False):
        pieces = [(a, b)]
        mine = ab[ab["technician_id"].isna() | ab["technician_id"].isin([tech, "*"])]
        for x, y in zip(mine["start"], mine["end"]):
            pieces = [p for s, e in pieces for p in ((s, min(e, x)), (max(s, y), e)) if p[1] > p[0]]
        out.extend((tech, s, e) for s, e in pieces)
    return pd.DataFrame(out, columns=WINDOW_COLUMNS)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"technician_id": pd.Series(dtype=object), "start": pd.Series(dtype="datetime64[us, UTC]"),
                         "end": pd.Series(dtype="datetime64[us, UTC]")})  # fmt: skip


def _utc(t: object) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
