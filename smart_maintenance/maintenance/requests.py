"""Maintenance requests from credible validated alerts and failure forecasts: one open request per problem.

An equipment problem is keyed by the equipment: every credible alert (any sensor) and the latest failure
forecast of an equipment are evidence about the same machine, so while a request of the equipment is
open a new alert or forecast *updates* it (more urgent type, earlier due_by, higher priority, evidence
appended: never relaxed automatically, only a human `modify` relaxes) instead of opening a duplicate.
Evidence already attached to any request is never used twice, so re-running is idempotent.

What an item of evidence asks for (config.RequestConfig):
- alert (validation status in `alert_statuses`): critical/high severity => urgent_corrective, else
  inspection; due_by = started_at + `due_after_alert[severity]`; priority by severity; confidence = peak_score.
- forecast (latest per equipment, as_of <= now): failure time = as_of + rul_lower_hours (conservative;
  predicted_failure_at when no lower bound); hours to failure from now. <= urgent_within => urgent_corrective,
  <= preventive_within or p_fail_7d >= preventive_min_p_fail => preventive, p_fail_7d >= inspection_min_p_fail
  => inspection, else nothing (also nothing when beyond_horizon and p_fail_7d is low). due_by = failure -
  safety_margin, but not before as_of (then it is already overdue: the scheduler flags it); priority by type,
  1 when failure is within `critical_within`; confidence = p_fail_7d.
After a request is closed, only newer evidence opens a new one; after a rejection, only evidence newer
than the quiet period, or more urgent than the rejected request. New pending requests go through the
approval policy (policy.py); auto-approvals are transitions by actor 'policy' in the audit log.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import numpy as np
import pandas as pd

from smart_maintenance import schemas
from smart_maintenance.maintenance.config import SEVERITIES, MaintenanceConfig, split_skills
from smart_maintenance.maintenance.lifecycle import OPEN, Change, append_audit, apply_changes, audit_record
from smart_maintenance.maintenance.policy import POLICY_ACTOR, decide_request

REQUEST_COLUMNS = schemas.MAINTENANCE_REQUESTS.names
TS_COLUMNS = [f.name for f in schemas.MAINTENANCE_REQUESTS if f.type == schemas.TS]
URGENCY = {"urgent_corrective": 0, "preventive": 1, "inspection": 2}
ACTOR = "requests"


def request_id(equipment_id: str, first_evidence: str) -> str:
    return "MR-" + hashlib.sha256(f"{equipment_id}|{first_evidence}".encode()).hexdigest()[:12]


def forecast_id(equipment_id: str, as_of: pd.Timestamp, method: str) -> str:
    return "FC-" + hashlib.sha256(f"{equipment_id}|{as_of.isoformat()}|{method}".encode()).hexdigest()[:12]


def empty_requests() -> pd.DataFrame:
    return normalize(pd.DataFrame(columns=REQUEST_COLUMNS))


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Requests frame with every contract column and consistent dtypes."""
    out = frame.copy()
    for c in REQUEST_COLUMNS:
        if c not in out.columns:
            out[c] = None
    for c in TS_COLUMNS:
        out[c] = pd.to_datetime(out[c], utc=True).astype("datetime64[us, UTC]")
    for c in ("confidence", "hours_to_failure", "estimated_duration_hours", "actual_duration_hours"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    out["priority"] = pd.to_numeric(out["priority"], errors="coerce").astype("Int64")
    return out[REQUEST_COLUMNS + [c for c in out.columns if c not in REQUEST_COLUMNS]].reset_index(drop=True)


def update_requests(
    requests: pd.DataFrame | None,
    alerts: pd.DataFrame | None,
    forecasts: pd.DataFrame | None,
    now: datetime | pd.Timestamp,
    equipment: pd.DataFrame | None = None,
    config: MaintenanceConfig | None = None,
    audit: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open or update requests from new evidence, then apply the approval policy. Returns (requests, audit).

    requests/audit: the current state (None for none); alerts: validated alerts; forecasts: failure
    forecasts; equipment: reference (equipment_id, type) for durations and skills; events: maintenance
    events — an alert that ended before a later repair, replacement or preventive maintenance of its
    equipment was dealt with already and opens nothing (history loaded at once must not flood the crew).
    """
    alerts = unresolved_alerts(alerts, events)
    config = config or MaintenanceConfig()
    now = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now).tz_localize("UTC")
    current = normalize(requests) if requests is not None and len(requests) else empty_requests()
    types = {} if equipment is None or len(equipment) == 0 else dict(zip(equipment["equipment_id"], equipment["type"]))
    used = set()
    for col in ("evidence_alert_ids", "evidence_forecast_ids"):
        for text in current[col].dropna():
            used.update(filter(None, str(text).split(";")))
    items = [i for i in _alert_items(alerts, now, config) + _forecast_items(forecasts, now, config) if i["id"] not in used]
    items.sort(key=lambda i: (i["equipment_id"], i["at"], i["id"]))

    rows = current.to_dict("records")
    records: list[dict] = []
    touched: set[str] = set()
    for item in items:
        eq = item["equipment_id"]
        open_rows = [r for r in rows if r["equipment_id"] == eq and r["status"] in OPEN]
        if open_rows:
            row = max(open_rows, key=lambda r: r["created_at"])
            _merge(row, item, types.get(eq), now, config)
        elif _may_open(rows, item, config):
            row = _new(item, types.get(eq), now, config)
            rows.append(row)
            records.append(audit_record(row["request_id"], None, "pending_approval", ACTOR, now, row["reason"]))
        else:
            continue
        touched.add(row["request_id"])

    out = normalize(pd.DataFrame(rows, columns=REQUEST_COLUMNS)) if rows else empty_requests()
    audit = append_audit(audit, records)
    return _apply_policy(out, audit, touched, now, config)


def _apply_policy(requests: pd.DataFrame, audit: pd.DataFrame, touched: set[str], now: pd.Timestamp,
                  config: MaintenanceConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    changes = []
    for i in requests.index[requests["status"].eq("pending_approval") & requests["request_id"].isin(touched)]:
        decision = decide_request(requests.loc[i].to_dict(), config.policy)
        requests.at[i, "approval_rule"] = decision.rule
        requests.at[i, "approval_reason"] = decision.reason
        if decision.auto_approve:
            changes.append(Change(requests.at[i, "request_id"], "approved", POLICY_ACTOR, now, decision.reason))
    return apply_changes(requests, audit, changes)


FIXING_EVENTS = ("corrective_repair", "replacement", "preventive_maintenance")


def unresolved_alerts(alerts: pd.DataFrame | None, events: pd.DataFrame | None) -> pd.DataFrame | None:
    """Alerts not followed by work that fixed their equipment."""
    if alerts is None or len(alerts) == 0 or events is None or len(events) == 0:
        return alerts
    fixes = events[events["event_type"].isin(FIXING_EVENTS)]
    last_fix = pd.to_datetime(fixes["timestamp"], utc=True).groupby(fixes["equipment_id"]).max()
    fixed_at = alerts["equipment_id"].map(last_fix)
    ended = pd.to_datetime(alerts["ended_at"], utc=True)
    return alerts[~(fixed_at.notna() & (ended < fixed_at))]


def _alert_items(alerts: pd.DataFrame | None, now: pd.Timestamp, config: MaintenanceConfig) -> list[dict]:
    cfg = config.requests
    if alerts is None or len(alerts) == 0:
        return []
    a = alerts[alerts["validation_status"].isin(cfg.alert_statuses)].copy()
    a["started_at"] = pd.to_datetime(a["started_at"], utc=True)
    a = a[a["started_at"] <= now]
    items = []
    for r in a.to_dict("records"):
        severity = r["severity"] if r["severity"] in SEVERITIES else "medium"
        kind = "urgent_corrective" if severity in ("critical", "high") else "inspection"
        peak = r.get("peak_score")
        items.append({
            "id": str(r["alert_id"]), "source": "alert", "equipment_id": r["equipment_id"], "at": r["started_at"],
            "request_type": kind, "priority": cfg.priority_by_severity[severity],
            "due_by": r["started_at"] + cfg.due_after_alert[severity], "severity": severity,
            "confidence": float(peak) if peak is not None and pd.notna(peak) else np.nan,
            "hours_to_failure": np.nan, "predicted_failure_at": pd.NaT,
            "reason": f"{severity} credible alert {r['alert_id']} on sensor {r.get('sensor_id')} "
                      f"since {r['started_at']:%Y-%m-%d %H:%M} UTC",
        })  # fmt: skip
    return items


def _forecast_items(forecasts: pd.DataFrame | None, now: pd.Timestamp, config: MaintenanceConfig) -> list[dict]:
    cfg = config.requests
    if forecasts is None or len(forecasts) == 0:
        return []
    f = forecasts.copy()
    f["as_of"] = pd.to_datetime(f["as_of"], utc=True)
    f = f[f["as_of"] <= now].sort_values("as_of").groupby("equipment_id", sort=False).tail(1)
    items = []
    for r in f.to_dict("records"):
        as_of = r["as_of"]
        point = pd.to_datetime(r.get("predicted_failure_at"), utc=True)
        if pd.isna(point) and pd.notna(r.get("rul_hours")):
            point = as_of + pd.Timedelta(hours=float(r["rul_hours"]))
        lower = r.get("rul_lower_hours")
        failure = as_of + pd.Timedelta(hours=float(lower)) if lower is not None and pd.notna(lower) else point
        p_fail = float(r["p_fail_7d"]) if pd.notna(r.get("p_fail_7d")) else np.nan
        hours = (failure - now).total_seconds() / 3600 if pd.notna(failure) else np.nan
        beyond = bool(r.get("beyond_horizon")) if pd.notna(r.get("beyond_horizon")) else False
        soon = pd.notna(hours) and not beyond
        if soon and hours <= cfg.urgent_within.total_seconds() / 3600:
            kind = "urgent_corrective"
        elif (soon and hours <= cfg.preventive_within.total_seconds() / 3600) or p_fail >= cfg.preventive_min_p_fail:
            kind = "preventive"
        elif p_fail >= cfg.inspection_min_p_fail:
            kind = "inspection"
        else:
            continue
        priority = cfg.priority_by_type[kind]
        if soon and hours <= cfg.critical_within.total_seconds() / 3600:
            priority = 1
        due = failure - cfg.safety_margin if pd.notna(failure) else as_of + cfg.preventive_within
        if kind == "inspection":
            due = min(due, as_of + cfg.due_after_alert["low"])
        due = max(due, as_of)
        fid = forecast_id(r["equipment_id"], as_of, str(r.get("method") or ""))
        items.append({
            "id": fid, "source": "forecast", "equipment_id": r["equipment_id"], "at": as_of,
            "request_type": kind, "priority": priority, "due_by": due, "severity": None,
            "confidence": p_fail, "hours_to_failure": hours, "predicted_failure_at": point,
            "reason": f"forecast {fid} ({r.get('method')}) as of {as_of:%Y-%m-%d %H:%M} UTC: failure in "
                      f"{hours:.0f} h (conservative), p_fail_7d {p_fail:.2f}",
        })  # fmt: skip
    return items


def _may_open(rows: list[dict], item: dict, config: MaintenanceConfig) -> bool:
    closed = [r for r in rows if r["equipment_id"] == item["equipment_id"] and r["status"] not in OPEN]
    if not closed:
        return True
    last = max(closed, key=lambda r: r["status_changed_at"])
    if last["status"] != "rejected":
        return item["at"] > last["status_changed_at"]
    return (item["at"] > last["status_changed_at"] + config.requests.rejection_quiet_period
            or item["priority"] < int(last["priority"]))


def _new(item: dict, equipment_type: str | None, now: pd.Timestamp, config: MaintenanceConfig) -> dict:
    work = config.requests.work_type(equipment_type, item["request_type"])
    return {
        "request_id": request_id(item["equipment_id"], item["id"]), "equipment_id": item["equipment_id"],
        "status": "pending_approval", "priority": item["priority"], "due_by": item["due_by"],
        "request_type": item["request_type"], "equipment_type": equipment_type, "severity": item["severity"],
        "confidence": item["confidence"], "hours_to_failure": item["hours_to_failure"],
        "predicted_failure_at": item["predicted_failure_at"], "estimated_duration_hours": work.duration_hours,
        "required_skills": ";".join(work.skills),
        "evidence_alert_ids": item["id"] if item["source"] == "alert" else "",
        "evidence_forecast_ids": item["id"] if item["source"] == "forecast" else "",
        "reason": item["reason"], "approval_rule": None, "approval_reason": None,
        "created_at": now, "updated_at": now, "status_changed_at": now,
        "actual_start": pd.NaT, "actual_end": pd.NaT, "actual_duration_hours": np.nan,
    }  # fmt: skip


def _merge(row: dict, item: dict, equipment_type: str | None, now: pd.Timestamp, config: MaintenanceConfig) -> None:
    """Update an open request with one more item of evidence: only ever more urgent."""
    if URGENCY[item["request_type"]] < URGENCY[row["request_type"]]:
        row["request_type"] = item["request_type"]
        work = config.requests.work_type(equipment_type or row.get("equipment_type"), item["request_type"])
        row["estimated_duration_hours"] = work.duration_hours
        row["required_skills"] = ";".join(sorted(set(split_skills(row["required_skills"])) | set(work.skills)))
    row["priority"] = min(int(row["priority"]), item["priority"])
    row["due_by"] = min(row["due_by"], item["due_by"])
    if item["severity"] is not None:
        old = row.get("severity")
        rank = SEVERITIES.index
        row["severity"] = item["severity"] if old not in SEVERITIES or rank(item["severity"]) > rank(old) else old
    if pd.notna(item["confidence"]):
        row["confidence"] = item["confidence"] if pd.isna(row["confidence"]) else max(row["confidence"], item["confidence"])
    if item["source"] == "forecast":
        row["hours_to_failure"] = item["hours_to_failure"]
        row["predicted_failure_at"] = item["predicted_failure_at"]
    col = "evidence_alert_ids" if item["source"] == "alert" else "evidence_forecast_ids"
    row[col] = ";".join(filter(None, [row.get(col) or "", item["id"]]))
    row["reason"] = f"{row['reason']}; updated: {item['reason']}"
    row["updated_at"] = now
