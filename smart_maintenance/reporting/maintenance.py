"""Maintenance summary: requests by status and overdue ones, mean time to repair from the maintenance
log, technician utilisation and the schedule (Gantt) ahead. Request and schedule parts say "no data
yet" until the maintenance assets write `maintenance_requests` and `technician_schedule`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from smart_maintenance.maintenance.lifecycle import CLOSED, STATUSES
from smart_maintenance.reporting.frames import LakeView, Window, records, share, utc_column

# A failure is repaired by the next corrective repair (or replacement) of the same equipment, before
# its next failure. Time to repair = repair event time - failure event time.
REPAIR_EVENTS = frozenset({"corrective_repair", "replacement"})
SCHEDULE_AHEAD = timedelta(days=7)  # the Gantt and utilisation cover the window and the week after it
DEFAULT_SHIFT_HOURS = 8.0
GANTT_LIMIT, LIST_LIMIT = 300, 50


def maintenance_summary(view: LakeView, window: Window) -> dict[str, Any]:
    return {"requests": requests_summary(view, window), "repairs": repairs_summary(view, window),
            "schedule": schedule_summary(view, window)}


def requests_summary(view: LakeView, window: Window) -> dict[str, Any]:
    if not view.has("maintenance_requests"):
        return {"available": False, "note": "no data yet: maintenance_requests is not in the lake", "total": 0,
                "by_status": {}, "overdue": 0, "overdue_requests": []}
    requests = view.table("maintenance_requests")
    if "created_at" in requests:  # requests opened after the as-of time did not exist yet
        created = utc_column(requests, "created_at")
        requests = requests[created.isna() | (created < window.as_of)]
    due = utc_column(requests, "due_by")
    overdue = requests[~requests["status"].isin(CLOSED) & (due < window.as_of)].assign(due_by=due)
    overdue = overdue.assign(hours_overdue=(window.as_of - overdue["due_by"]).dt.total_seconds() / 3600)
    overdue = overdue.sort_values(["priority", "due_by"]) if "priority" in overdue else overdue.sort_values("due_by")
    statuses = list(STATUSES) + sorted(set(requests["status"].dropna()) - set(STATUSES))
    created_in_window = None
    if "created_at" in requests:
        created = utc_column(requests, "created_at")
        created_in_window = int(((created >= window.begin) & (created < window.as_of)).sum())
    return {
        "available": True, "note": "statuses are the requests' current state", "total": len(requests),
        "created_in_window": created_in_window,
        "by_status": {s: int((requests["status"] == s).sum()) for s in statuses},
        "open": int((~requests["status"].isin(CLOSED)).sum()),
        "overdue": len(overdue),
        "overdue_requests": records(overdue, ["request_id", "equipment_id", "status", "priority", "due_by", "hours_overdue"],
                                    LIST_LIMIT),
    }


def repairs_summary(view: LakeView, window: Window) -> dict[str, Any]:
    """Failures in the window and how long each took to repair (MTTR = mean of those repaired)."""
    events = view.table("maintenance_events")
    if events.empty:
        return {"available": False, "note": "no maintenance events in the lake", "failures": 0, "repaired": 0,
                "mttr_hours": None, "median_hours": None, "events_by_type": {}, "failures_list": []}
    events = events.assign(timestamp=utc_column(events, "timestamp"))
    events = events[events["timestamp"] < window.as_of].sort_values("timestamp")
    in_window = events[events["timestamp"] >= window.begin]
    rows = []
    for failure in in_window[in_window["event_type"] == "failure"].itertuples():
        later = events[(events["equipment_id"] == failure.equipment_id) & (events["timestamp"] > failure.timestamp)]
        next_failure = later.loc[later["event_type"] == "failure", "timestamp"].min()
        repairs = later[later["event_type"].isin(REPAIR_EVENTS)
                        & (pd.isna(next_failure) | (later["timestamp"] <= next_failure))]
        repair = repairs.iloc[0] if len(repairs) else None
        rows.append({"equipment_id": failure.equipment_id, "failed_at": failure.timestamp,
                     "repaired_at": None if repair is None else repair["timestamp"],
                     "hours_to_repair": None if repair is None else (repair["timestamp"] - failure.timestamp).total_seconds() / 3600,
                     "repair_event": None if repair is None else repair["event_type"],
                     "technician_id": None if repair is None else repair.get("technician_id"),
                     "notes": getattr(failure, "notes", None)})
    hours = pd.Series([r["hours_to_repair"] for r in rows if r["hours_to_repair"] is not None], dtype=float)
    return {
        "available": True, "note": "time to repair: failure event to the next corrective repair or replacement",
        "failures": len(rows), "repaired": len(hours),
        "mttr_hours": round(float(hours.mean()), 3) if len(hours) else None,
        "median_hours": round(float(hours.median()), 3) if len(hours) else None,
        "events_by_type": {str(k): int(v) for k, v in in_window["event_type"].value_counts().sort_index().items()},
        "failures_list": records(pd.DataFrame(rows), limit=LIST_LIMIT) if rows else [],
    }


def schedule_summary(view: LakeView, window: Window) -> dict[str, Any]:
    horizon_start, horizon_end = window.begin, window.stop + SCHEDULE_AHEAD
    base = {"horizon_start": horizon_start.isoformat(), "horizon_end": horizon_end.isoformat()}
    if not view.has("technician_schedule"):
        return base | {"available": False, "note": "no data yet: technician_schedule is not in the lake",
                       "assignments": 0, "utilisation": [], "gantt": []}
    schedule = view.table("technician_schedule")
    schedule = schedule.assign(start=utc_column(schedule, "start"), end=utc_column(schedule, "end"))
    if "planned_at" in schedule:  # only the latest plan counts (older plans may linger in the lake)
        planned = utc_column(schedule, "planned_at")
        schedule = schedule[planned.isna() | (planned == planned.max())]
    schedule = schedule[(schedule["end"] > horizon_start) & (schedule["start"] < horizon_end)].sort_values("start")
    technicians = view.table("technicians")
    names = dict(zip(technicians.get("technician_id", []), technicians.get("name", [])))
    schedule = schedule.assign(technician=schedule["technician_id"].map(lambda t: names.get(t) or t))
    clipped = schedule["end"].clip(upper=horizon_end) - schedule["start"].clip(lower=horizon_start)
    assigned = (clipped.dt.total_seconds() / 3600).groupby(schedule["technician_id"]).sum()
    days = (horizon_end - horizon_start) / timedelta(days=1)
    ids = sorted(set(technicians.get("technician_id", pd.Series(dtype=object)).dropna()) | set(assigned.index), key=str)
    shifts = {r["technician_id"]: shift_hours(r.get("shift_start"), r.get("shift_end")) for r in technicians.to_dict("records")}
    utilisation = []
    for tid in ids:
        available = shifts.get(tid, DEFAULT_SHIFT_HOURS) * days
        hours = float(assigned.get(tid, 0.0))
        utilisation.append({"technician_id": tid, "name": names.get(tid) or tid, "assignments": int((schedule["technician_id"] == tid).sum()),
                            "assigned_hours": round(hours, 2), "available_hours": round(available, 2),
                            "utilisation": share(hours, available)})
    gantt = records(schedule, ["request_id", "technician_id", "technician", "equipment_id", "start", "end", "priority",
                               "request_type", "late", "overdue"], GANTT_LIMIT)
    return base | {"available": True, "note": "shift hours x days of the horizon; weekends and leave not modelled",
                   "assignments": len(schedule), "late": int(schedule["late"].fillna(False).astype(bool).sum()) if "late" in schedule else None,
                   "utilisation": utilisation, "gantt": gantt}


def shift_hours(start: Any, end: Any) -> float:
    """Length of a shift 'HH:MM'-'HH:MM' in hours (a night shift wraps past midnight)."""
    try:
        (h1, m1), (h2, m2) = (map(int, str(t).split(":")[:2]) for t in (start, end))
    except (TypeError, ValueError):
        return DEFAULT_SHIFT_HOURS
    minutes = (h2 * 60 + m2 - h1 * 60 - m1) % (24 * 60)
    return minutes / 60 or 24.0
