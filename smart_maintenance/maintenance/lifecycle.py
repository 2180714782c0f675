"""Request lifecycle: the allowed status transitions, the audit log, and maintenance events closing the loop.

    pending_approval -> approved | rejected | deferred | cancelled
    deferred         -> pending_approval | approved | rejected | cancelled
    approved         -> scheduled | in_progress | deferred | rejected | cancelled
    scheduled        -> approved (dropped from a new plan) | in_progress | deferred | rejected | cancelled
    in_progress      -> completed | cancelled
    rejected, completed, cancelled: closed (terminal)

Every change appends one audit record (request_id, from_status, to_status, actor, at, reason); a
transition that is not allowed raises `TransitionError` and changes nothing. Functions never mutate
their inputs: they return new frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from smart_maintenance import schemas

STATUSES = ("pending_approval", "approved", "rejected", "deferred", "scheduled", "in_progress", "completed", "cancelled")
CLOSED = frozenset({"rejected", "completed", "cancelled"})
OPEN = frozenset(STATUSES) - CLOSED
SCHEDULABLE = frozenset({"approved", "scheduled"})  # only approved work is ever planned
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending_approval": frozenset({"approved", "rejected", "deferred", "cancelled"}),
    "deferred": frozenset({"pending_approval", "approved", "rejected", "cancelled"}),
    "approved": frozenset({"scheduled", "in_progress", "deferred", "rejected", "cancelled"}),
    "scheduled": frozenset({"approved", "in_progress", "deferred", "rejected", "cancelled"}),
    "in_progress": frozenset({"completed", "cancelled"}),
    "rejected": frozenset(), "completed": frozenset(), "cancelled": frozenset(),
}  # fmt: skip
AUDIT_COLUMNS = schemas.REQUEST_AUDIT.names
START_EVENTS = frozenset({"work_started", "started"})  # optional event types: work began
COMPLETION_EVENTS = frozenset({"corrective_repair", "preventive_maintenance", "inspection", "replacement"})


class TransitionError(ValueError):
    """A status change the lifecycle does not allow (or an unknown request)."""


@dataclass(frozen=True)
class Change:
    request_id: str
    to_status: str
    actor: str
    at: pd.Timestamp
    reason: str


def empty_audit() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[us, UTC]" if c == "at" else object) for c in AUDIT_COLUMNS})


def audit_record(request_id: str, from_status: str | None, to_status: str, actor: str, at: object, reason: str) -> dict:
    return {"request_id": request_id, "from_status": from_status, "to_status": to_status, "actor": actor,
            "at": pd.Timestamp(at), "reason": reason}  # fmt: skip


def append_audit(audit: pd.DataFrame | None, records: list[dict]) -> pd.DataFrame:
    base = empty_audit() if audit is None or len(audit) == 0 else audit
    if not records:
        return base.copy()
    new = pd.DataFrame(records, columns=AUDIT_COLUMNS)
    new["at"] = pd.to_datetime(new["at"], utc=True)
    return pd.concat([base, new], ignore_index=True) if len(base) else new


def check_transition(from_status: str, to_status: str) -> None:
    if to_status not in STATUSES:
        raise TransitionError(f"unknown status {to_status!r} (expected one of {', '.join(STATUSES)})")
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(from_status, ()))) or "none: the request is closed"
        raise TransitionError(f"cannot go from {from_status!r} to {to_status!r} (allowed: {allowed})")


def apply_changes(requests: pd.DataFrame, audit: pd.DataFrame | None, changes: Iterable[Change]
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply status changes in order; all are validated before anything is returned (all or nothing)."""
    out = requests.copy()
    index = {rid: i for i, rid in zip(out.index, out["request_id"])}
    records = []
    for c in changes:
        if c.request_id not in index:
            raise TransitionError(f"unknown request_id {c.request_id!r}")
        i = index[c.request_id]
        current = out.at[i, "status"]
        check_transition(current, c.to_status)
        out.at[i, "status"] = c.to_status
        out.at[i, "status_changed_at"] = pd.Timestamp(c.at)
        out.at[i, "updated_at"] = pd.Timestamp(c.at)
        records.append(audit_record(c.request_id, current, c.to_status, c.actor, c.at, c.reason))
    return out, append_audit(audit, records)


def transition(requests: pd.DataFrame, audit: pd.DataFrame | None, request_id: str, to_status: str, actor: str,
               at: object, reason: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One validated status change plus its audit record."""
    return apply_changes(requests, audit, [Change(request_id, to_status, actor, pd.Timestamp(at), reason)])


def mark_scheduled(requests: pd.DataFrame, audit: pd.DataFrame | None, schedule: pd.DataFrame, at: object,
                   actor: str = "scheduler") -> tuple[pd.DataFrame, pd.DataFrame]:
    """approved -> scheduled for requests in `schedule`; scheduled -> approved for those a new plan dropped."""
    planned = set(schedule["request_id"]) if len(schedule) else set()
    changes = []
    for rid, status in zip(requests["request_id"], requests["status"]):
        if status == "approved" and rid in planned:
            changes.append(Change(rid, "scheduled", actor, pd.Timestamp(at), "assigned in the technician schedule"))
        elif status == "scheduled" and rid not in planned:
            changes.append(Change(rid, "approved", actor, pd.Timestamp(at), "not in the new plan (see unscheduled reasons)"))
    return apply_changes(requests, audit, changes)


def apply_events(requests: pd.DataFrame, audit: pd.DataFrame | None, events: pd.DataFrame,
                 schedule: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Maintenance events move approved/scheduled work to in_progress and completed.

    An event names its request (request_id) or else applies to the equipment's open approved /
    scheduled / in-progress request created before the event. `work_started` (optional event type)
    starts work; corrective_repair, preventive_maintenance, inspection and replacement complete it.
    The actual start is the start event, else the planned start in `schedule`, else the event's
    optional `duration_hours`; `actual_duration_hours` = end - start. Returns (requests, audit,
    ignored events with a `reason`); `failure` events and events without a matching request are ignored.
    """
    out, audit = requests.copy(), append_audit(audit, [])
    ignored = []
    if events is None or len(events) == 0:
        return out, audit, pd.DataFrame(columns=["equipment_id", "timestamp", "event_type", "reason"])
    ev = events.copy()
    ev["timestamp"] = pd.to_datetime(ev["timestamp"], utc=True)
    ev = ev.sort_values("timestamp", kind="stable")
    planned = {} if schedule is None or len(schedule) == 0 else dict(
        zip(schedule["request_id"], pd.to_datetime(schedule["start"], utc=True)))
    for e in ev.to_dict("records"):
        kind = str(e.get("event_type") or "")
        if kind not in START_EVENTS | COMPLETION_EVENTS:
            ignored.append({**e, "reason": f"event type {kind!r} does not change a request"})
            continue
        i = _target(out, e)
        if i is None:
            ignored.append({**e, "reason": "no approved, scheduled or in-progress request to apply it to"})
            continue
        rid, at = out.at[i, "request_id"], e["timestamp"]
        actor = str(e.get("technician_id") or "maintenance_event")
        if out.at[i, "status"] != "in_progress":
            start = at if kind in START_EVENTS else planned.get(rid)
            if start is None or pd.isna(start) or start > at:
                hours = pd.to_numeric(e.get("duration_hours"), errors="coerce")
                start = at - pd.Timedelta(hours=float(hours)) if pd.notna(hours) else at
            out, audit = transition(out, audit, rid, "in_progress", actor, start, f"{kind} event")
            out.at[i, "actual_start"] = start
        if kind in COMPLETION_EVENTS:
            out, audit = transition(out, audit, rid, "completed", actor, at, f"{kind} event")
            out.at[i, "actual_end"] = at
            start = out.at[i, "actual_start"]
            out.at[i, "actual_duration_hours"] = (at - start).total_seconds() / 3600 if pd.notna(start) else float("nan")
    return out, audit, pd.DataFrame(ignored)


def _target(requests: pd.DataFrame, event: dict) -> int | None:
    active = requests["status"].isin(["approved", "scheduled", "in_progress"])
    rid = event.get("request_id")
    if rid is not None and not pd.isna(rid) and str(rid).strip():
        hit = requests.index[active & (requests["request_id"] == str(rid).strip())]
        return hit[0] if len(hit) else None
    hit = requests[active & (requests["equipment_id"] == event.get("equipment_id"))
                   & (pd.to_datetime(requests["created_at"], utc=True) <= event["timestamp"])]
    if len(hit) == 0:
        return None
    return hit.sort_values("created_at").index[-1]
