"""Human decisions on requests (launchpad job or decision files): approve, reject, defer or modify.

    approve: pending_approval / deferred -> approved
    reject:  pending_approval / deferred / approved / scheduled -> rejected (never scheduled again)
    defer:   pending_approval / approved / scheduled -> deferred
    modify:  new priority and/or due_by (at least one); a pending or deferred request is approved with
             the changes, an approved / scheduled / in-progress one keeps its status (the next plan uses them)

An unknown request id, a closed request (rejected, completed, cancelled) or a decision its status does not
allow raises `DecisionError` and nothing changes: a batch is all or nothing. Every applied decision is
one audit record with the operator and the justification.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from smart_maintenance.maintenance.lifecycle import CLOSED, append_audit, audit_record, check_transition

DECISIONS = ("approve", "reject", "defer", "modify")
TARGET = {"approve": "approved", "reject": "rejected", "defer": "deferred"}


class DecisionError(ValueError):
    """A decision that cannot be applied; the requests are left unchanged."""


@dataclass(frozen=True)
class Decision:
    request_id: str
    decision: str
    operator: str = ""
    justification: str = ""
    new_priority: int | None = None
    new_due_by: datetime | pd.Timestamp | None = None
    decided_at: datetime | pd.Timestamp | None = None


def decisions_from_frame(frame: pd.DataFrame) -> list[Decision]:
    """Rows of a decisions file / lake table (request_id, decision, operator, justification, optional
    new_priority, new_due_by, decided_at) -> Decision objects."""
    def val(row: dict, key: str):
        v = row.get(key)
        return None if v is None or (not isinstance(v, str) and pd.isna(v)) or v == "" else v

    out = []
    for row in frame.to_dict("records"):
        priority = val(row, "new_priority")
        out.append(Decision(
            str(row["request_id"]).strip(), str(row["decision"]).strip().lower(), str(val(row, "operator") or ""),
            str(val(row, "justification") or ""), int(float(priority)) if priority is not None else None,
            val(row, "new_due_by"), val(row, "decided_at"),
        ))  # fmt: skip
    return out


def apply_decisions(requests: pd.DataFrame, audit: pd.DataFrame | None, decisions: Iterable[Decision] | pd.DataFrame,
                    now: datetime | pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply decisions in order. Returns new (requests, audit); raises DecisionError (nothing applied)."""
    if isinstance(decisions, pd.DataFrame):
        decisions = decisions_from_frame(decisions)
    out = requests.copy()
    index = {rid: i for i, rid in zip(out.index, out["request_id"])}
    records = []
    for d in decisions:
        at = _utc(d.decided_at) if d.decided_at is not None else _utc(now)
        if d.decision not in DECISIONS:
            raise DecisionError(f"decision {d.decision!r} for {d.request_id!r} is not one of {', '.join(DECISIONS)}")
        if d.request_id not in index:
            raise DecisionError(f"unknown request_id {d.request_id!r}: no decision applied")
        i = index[d.request_id]
        status = out.at[i, "status"]
        if status in CLOSED:
            raise DecisionError(f"request {d.request_id!r} is {status} (closed): {d.decision} not applied")
        operator = d.operator.strip() or "unknown operator"
        reason = f"{d.decision}: {d.justification.strip() or 'no justification given'}"
        if d.decision == "modify":
            target, changes = _modify(out, i, d)
            reason += f" ({changes})"
        else:
            target = TARGET[d.decision]
            if target == status or (d.decision == "approve" and status not in ("pending_approval", "deferred")):
                raise DecisionError(f"request {d.request_id!r} is already {status}: {d.decision} not applied")
        if target != status:
            try:
                check_transition(status, target)
            except ValueError as e:
                raise DecisionError(f"request {d.request_id!r}: {d.decision} not allowed when {status} ({e})") from None
            out.at[i, "status"] = target
            out.at[i, "status_changed_at"] = at
        out.at[i, "updated_at"] = at
        if status in ("pending_approval", "deferred") and target != status:
            out.at[i, "approval_rule"] = "human"
            out.at[i, "approval_reason"] = f"{operator}: {reason}"
        records.append(audit_record(d.request_id, status, target, operator, at, reason))
    return out, append_audit(audit, records)


def _modify(out: pd.DataFrame, i: int, d: Decision) -> tuple[str, str]:
    if d.new_priority is None and d.new_due_by is None:
        raise DecisionError(f"modify of {d.request_id!r} needs new_priority and/or new_due_by")
    changes = []
    if d.new_priority is not None:
        if int(d.new_priority) not in (1, 2, 3, 4):
            raise DecisionError(f"modify of {d.request_id!r}: priority must be 1..4, got {d.new_priority!r}")
        changes.append(f"priority {out.at[i, 'priority']} -> {int(d.new_priority)}")
        out.at[i, "priority"] = int(d.new_priority)
    if d.new_due_by is not None:
        due = _utc(d.new_due_by)
        old = out.at[i, "due_by"]
        changes.append(f"due_by {'none' if pd.isna(old) else f'{old:%Y-%m-%d %H:%M}'} -> {due:%Y-%m-%d %H:%M} UTC")
        out.at[i, "due_by"] = due
    status = out.at[i, "status"]
    return ("approved" if status in ("pending_approval", "deferred") else status), ", ".join(changes)


def _utc(t: object) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
