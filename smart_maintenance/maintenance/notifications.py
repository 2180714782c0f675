"""The notification outbox: what to tell whom, once, and never too often (pure: no Dagster, no I/O).

Messages (`build_messages`), each with a stable key derived from the facts, never from the run:
- critical_alert  -> operators: a credible alert of severity critical, still open or ended within
  `alert_lookback` (old history is not news).                 key alert:<alert_id>
- decision_needed -> operators: a request waiting in pending_approval.
                                                              key decision:<request_id>:<status_changed_at>
- assignment      -> the technician: an assignment of the schedule not yet finished, 'new' the first time
  the request is assigned, 'changed' when its technician or start moved.
                                                              key assignment:<request_id>:<technician_id>:<start>
Deduplication: a key already in the outbox is never added again, so re-running sends nothing new; a
request deferred and back in pending_approval, or an assignment moved, is a new fact with a new key.

Rate limit (`plan_outbox`): per recipient at most `per_hour` delivery attempts in the `window` ending at
now. Messages beyond it are held with status `rate_limited` (never dropped) and released when the window has
room: most urgent kind first, messages never tried before retries, then oldest. A failed delivery is retried on later passes until
`max_attempts`. Statuses: pending (to deliver now) -> sent | failed; rate_limited -> pending later.
`now` is the data's now (the latest reading), like everywhere in the maintenance core.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa

from smart_maintenance.schemas import NOTIFICATION_DELIVERIES, NOTIFICATION_OUTBOX

TS = pa.timestamp("us", tz="UTC")
OPERATORS = "operators"
KINDS = ("critical_alert", "decision_needed", "assignment")  # also the release order under the rate limit

# The outbox and delivery datasets' schemas live with the others in schemas.py.
OUTBOX_COLUMNS = NOTIFICATION_OUTBOX.names
DELIVERY_COLUMNS = NOTIFICATION_DELIVERIES.names
TS_COLUMNS = [f.name for f in NOTIFICATION_OUTBOX if f.type == TS]


@dataclass(frozen=True)
class OutboxConfig:
    per_hour: int = 10  # delivery attempts per recipient per window
    window: timedelta = timedelta(hours=1)
    max_attempts: int = 3  # a message failing this often stays failed
    alert_lookback: timedelta = timedelta(days=1)


@dataclass(frozen=True)
class Delivery:
    """What one sink did with one message."""

    message_key: str
    sink: str
    ok: bool
    error: str = ""


def empty_outbox() -> pd.DataFrame:
    return normalize(pd.DataFrame(columns=OUTBOX_COLUMNS))


def normalize(frame: pd.DataFrame | None) -> pd.DataFrame:
    out = pd.DataFrame(columns=OUTBOX_COLUMNS) if frame is None else frame.copy()
    for c in OUTBOX_COLUMNS:
        if c not in out.columns:
            out[c] = None
    for c in TS_COLUMNS:
        out[c] = pd.to_datetime(out[c], utc=True).astype("datetime64[us, UTC]")
    out["attempts"] = pd.to_numeric(out["attempts"], errors="coerce").fillna(0).astype("int64")
    for c in ("address", "sinks", "error"):
        out[c] = out[c].fillna("").astype(object)
    return out[OUTBOX_COLUMNS].reset_index(drop=True)


def build_messages(
    now: datetime | pd.Timestamp,
    alerts: pd.DataFrame | None = None,
    requests: pd.DataFrame | None = None,
    schedule: pd.DataFrame | None = None,
    technicians: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    config: OutboxConfig | None = None,
) -> pd.DataFrame:
    """The messages the current state calls for (status pending), keys not yet deduplicated."""
    config = config or OutboxConfig()
    now = _utc(now)
    rows: list[dict] = []
    if alerts is not None and len(alerts):
        a = alerts[(alerts["validation_status"] == "credible") & (alerts["severity"] == "critical")].copy()
        a["started_at"], a["ended_at"] = pd.to_datetime(a["started_at"], utc=True), pd.to_datetime(a["ended_at"], utc=True)
        is_open = a["is_open"].fillna(False).astype(bool) if "is_open" in a.columns else False
        a = a[(a["started_at"] <= now) & (is_open | (a["ended_at"] >= now - config.alert_lookback))]
        for r in a.sort_values(["started_at", "alert_id"]).to_dict("records"):
            rows.append(_message(
                f"alert:{r['alert_id']}", "critical_alert", OPERATORS, r["alert_id"], now,
                f"CRITICAL alert on {r['equipment_id']} / {r['sensor_id']}",
                f"Credible critical alert {r['alert_id']} on equipment {r['equipment_id']}, sensor {r['sensor_id']}, "
                f"since {r['started_at']:%Y-%m-%d %H:%M} UTC (peak score {_num(r.get('peak_score'))}). "
                f"Validation: {r.get('validation_reasons') or 'credible'}."))  # fmt: skip
    if requests is not None and len(requests):
        pending = requests[requests["status"] == "pending_approval"]
        for r in pending.sort_values(["priority", "due_by", "request_id"]).to_dict("records"):
            changed = _utc(r["status_changed_at"]) if pd.notna(r.get("status_changed_at")) else now
            rows.append(_message(
                f"decision:{r['request_id']}:{changed.isoformat()}", "decision_needed", OPERATORS, r["request_id"], now,
                f"Decision needed: {r['request_type']} on {r['equipment_id']} (priority {r['priority']})",
                f"Request {r['request_id']} ({r['request_type']}, priority {r['priority']}) on {r['equipment_id']} is "
                f"waiting for approval, due by {_when(r.get('due_by'))}. Why: {r.get('reason')}. Policy: "
                f"{r.get('approval_reason') or 'a human decides'}. Decide with the decide_request job "
                f"(approve / reject / defer / modify) or a decision file in landing/."))  # fmt: skip
    if schedule is not None and len(schedule):
        zones = {} if technicians is None or len(technicians) == 0 else dict(
            zip(technicians["technician_id"].astype(str), technicians["timezone"]))
        assigned_before = set() if previous is None or len(previous) == 0 else set(
            previous.loc[previous["kind"] == "assignment", "ref_id"])
        s = schedule.copy()
        s["start"], s["end"] = pd.to_datetime(s["start"], utc=True), pd.to_datetime(s["end"], utc=True)
        for r in s[s["end"] > now].sort_values(["technician_id", "start"]).to_dict("records"):
            tech, rid = str(r["technician_id"]), r["request_id"]
            what = "Changed assignment" if rid in assigned_before else "New assignment"
            rows.append(_message(
                f"assignment:{rid}:{tech}:{r['start'].isoformat()}", "assignment", tech, rid, now,
                f"{what}: {r['request_type']} on {r['equipment_id']} at {_local(r['start'], zones.get(tech))}",
                f"{what} for {tech}: request {rid}, {r['request_type']} on {r['equipment_id']} (priority {r['priority']}), "
                f"{r['start']:%Y-%m-%d %H:%M}-{r['end']:%H:%M} UTC ({_local(r['start'], zones.get(tech))} to "
                f"{_local(r['end'], zones.get(tech))} local), due by {_when(r.get('due_by'))}"
                + (" - already overdue, planned as early as possible." if bool(r.get("overdue")) else ".")))  # fmt: skip
    return normalize(pd.DataFrame(rows, columns=OUTBOX_COLUMNS)) if rows else empty_outbox()


def plan_outbox(previous: pd.DataFrame | None, candidates: pd.DataFrame, now: datetime | pd.Timestamp,
                config: OutboxConfig | None = None, addresses: dict[str, str] | None = None) -> pd.DataFrame:
    """Merge new messages into the outbox (dedupe by key) and apply the rate limit: rows with status
    `pending` are the ones to deliver now, the others that wait are `rate_limited`."""
    config = config or OutboxConfig()
    now = _utc(now)
    out = normalize(previous)
    new = candidates[~candidates["message_key"].isin(set(out["message_key"]))].drop_duplicates("message_key")
    if len(new):
        out = normalize(pd.concat([out, normalize(new)], ignore_index=True)) if len(out) else normalize(new)
    if addresses:
        blank = out["address"].eq("") & out["recipient"].isin(addresses.keys())
        out.loc[blank, "address"] = out.loc[blank, "recipient"].map(addresses)
    waiting = out["status"].isin(["pending", "rate_limited"]) | (out["status"].eq("failed") & (out["attempts"] < config.max_attempts))
    recent = out["last_attempt_at"].notna() & (out["last_attempt_at"] > now - config.window) & (out["last_attempt_at"] <= now)
    # messages attempted within the window use it up; a retry of one of them is the same message again
    room = (config.per_hour - out[recent].groupby("recipient").size()).to_dict()
    rank = {k: i for i, k in enumerate(KINDS)}
    # most urgent kind first; within a kind, messages never tried before retries (a broken sink must not
    # starve the held messages), then oldest first (ties: outbox order, which follows the facts' times)
    queue = out[waiting].assign(_rank=out["kind"].map(rank)).sort_values(["_rank", "attempts", "created_at"], kind="stable")
    for i, recipient in zip(queue.index, queue["recipient"]):
        if recent[i]:
            out.at[i, "status"] = "pending"
        elif room.get(recipient, config.per_hour) > 0:
            out.at[i, "status"] = "pending"
            room[recipient] = room.get(recipient, config.per_hour) - 1
        else:
            out.at[i, "status"] = "rate_limited"
    return out


def record_deliveries(outbox: pd.DataFrame, deliveries: list[Delivery], now: datetime | pd.Timestamp
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply delivery results: a message is sent when every sink accepted it, else failed with the errors.
    Returns (outbox, delivery rows)."""
    now = _utc(now)
    out = normalize(outbox)
    by_key: dict[str, list[Delivery]] = {}
    for d in deliveries:
        by_key.setdefault(d.message_key, []).append(d)
    index = dict(zip(out["message_key"], out.index))
    rows = []
    for key, results in by_key.items():
        i = index[key]
        ok = all(d.ok for d in results)
        out.at[i, "attempts"] = int(out.at[i, "attempts"]) + 1
        out.at[i, "last_attempt_at"] = now
        accepted = set(filter(None, str(out.at[i, "sinks"]).split(";"))) | {d.sink for d in results if d.ok}
        out.at[i, "sinks"] = ";".join(sorted(accepted))
        out.at[i, "status"] = "sent" if ok else "failed"
        out.at[i, "error"] = "" if ok else "; ".join(f"{d.sink}: {d.error}" for d in results if not d.ok)
        if ok:
            out.at[i, "sent_at"] = now
        rows += [{"message_key": key, "recipient": out.at[i, "recipient"], "sink": d.sink,
                  "status": "sent" if d.ok else "failed", "error": d.error, "attempted_at": now} for d in results]
    frame = pd.DataFrame(rows, columns=DELIVERY_COLUMNS)
    frame["attempted_at"] = pd.to_datetime(frame["attempted_at"], utc=True).astype("datetime64[us, UTC]")
    return out, frame


def _message(key: str, kind: str, recipient: str, ref_id: str, now: pd.Timestamp, subject: str, body: str) -> dict:
    return {"message_key": key, "kind": kind, "recipient": recipient, "address": "", "subject": subject, "body": body,
            "ref_id": ref_id, "created_at": now, "status": "pending", "attempts": 0, "last_attempt_at": pd.NaT,
            "sent_at": pd.NaT, "sinks": "", "error": ""}  # fmt: skip


def _utc(t: object) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _when(t: object) -> str:
    return "no due date" if t is None or pd.isna(t) else f"{_utc(t):%Y-%m-%d %H:%M} UTC"


def _local(t: pd.Timestamp, zone: str | None) -> str:
    try:
        return f"{_utc(t).tz_convert(ZoneInfo(zone)):%a %Y-%m-%d %H:%M} {zone}" if zone else f"{_utc(t):%a %Y-%m-%d %H:%M} UTC"
    except (KeyError, ValueError):  # an unknown zone name in technicians.csv: fall back to UTC
        return f"{_utc(t):%a %Y-%m-%d %H:%M} UTC"


def _num(x: object) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{float(x):.2f}"
