"""The outbox core (smart_maintenance.maintenance.notifications) on hand-made frames: what is worth a
message, dedupe by key, the per-recipient rate limit and the retry of failed deliveries."""

from __future__ import annotations

import pandas as pd

from smart_maintenance.maintenance.notifications import (
    Delivery, OutboxConfig, build_messages, plan_outbox, record_deliveries,
)  # fmt: skip

NOW = pd.Timestamp("2026-03-02 08:00", tz="UTC")
CFG = OutboxConfig(per_hour=2)


def alerts(n: int) -> pd.DataFrame:
    rows = [{"alert_id": f"a{i}", "equipment_id": "P-1", "sensor_id": "vib", "severity": "critical",
             "validation_status": "credible", "started_at": NOW - pd.Timedelta(hours=i + 1), "ended_at": NOW,
             "is_open": True, "peak_score": 0.9} for i in range(n)]
    rows += [{**rows[0], "alert_id": "not-credible", "validation_status": "suspected_false_positive"},
             {**rows[0], "alert_id": "just-high", "severity": "high"},
             {**rows[0], "alert_id": "old-news", "is_open": False, "started_at": NOW - pd.Timedelta(days=5),
              "ended_at": NOW - pd.Timedelta(days=4)}]
    return pd.DataFrame(rows)


def schedule(start: str, tech: str = "T1") -> pd.DataFrame:
    s = pd.Timestamp(start, tz="UTC")
    return pd.DataFrame([{"request_id": "MR-1", "technician_id": tech, "start": s, "end": s + pd.Timedelta(hours=2),
                          "equipment_id": "P-1", "request_type": "inspection", "priority": 3, "due_by": s + pd.Timedelta(days=1),
                          "overdue": False}])


def sent_all(outbox: pd.DataFrame, now=NOW) -> pd.DataFrame:
    due = outbox.loc[outbox["status"] == "pending", "message_key"]
    return record_deliveries(outbox, [Delivery(k, "file", True) for k in due], now)[0]


def test_only_critical_credible_current_alerts_and_pending_requests_make_messages():
    requests = pd.DataFrame([{"request_id": "MR-9", "equipment_id": "P-1", "status": "pending_approval", "priority": 2,
                              "request_type": "inspection", "due_by": NOW, "status_changed_at": NOW, "reason": "r",
                              "approval_reason": "human decides"},
                             {"request_id": "MR-8", "equipment_id": "P-2", "status": "approved", "priority": 2,
                              "request_type": "inspection", "due_by": NOW, "status_changed_at": NOW, "reason": "r",
                              "approval_reason": ""}])
    techs = pd.DataFrame([{"technician_id": "T1", "timezone": "Europe/Berlin"}])
    m = build_messages(NOW, alerts(2), requests, schedule("2026-03-02 09:00"), techs)
    assert list(m["message_key"]) == ["alert:a1", "alert:a0", f"decision:MR-9:{NOW.isoformat()}",
                                      "assignment:MR-1:T1:2026-03-02T09:00:00+00:00"]
    assert list(m["recipient"]) == ["operators", "operators", "operators", "T1"]
    assert "10:00 Europe/Berlin" in m["subject"].iloc[-1]  # local time of the technician


def test_dedupe_rate_limit_and_release_of_held_messages():
    outbox = sent_all(plan_outbox(None, build_messages(NOW, alerts(3)), NOW, CFG))
    assert list(outbox["status"]) == ["sent", "sent", "rate_limited"]
    again = plan_outbox(outbox, build_messages(NOW, alerts(3)), NOW, CFG)  # same facts: nothing new, still held
    assert list(again["status"]) == ["sent", "sent", "rate_limited"]
    later = NOW + pd.Timedelta(minutes=61)
    released = sent_all(plan_outbox(again, build_messages(later, alerts(3)), later, CFG), later)
    assert list(released["status"]) == ["sent"] * 3 and released["attempts"].tolist() == [1, 1, 1]


def test_a_changed_assignment_is_a_new_message_and_failures_are_retried_then_given_up():
    first = plan_outbox(None, build_messages(NOW, schedule=schedule("2026-03-02 09:00")), NOW, CFG)
    first, rows = record_deliveries(first, [Delivery(first["message_key"][0], "webhook", False, "HTTP 500")], NOW)
    assert first["status"].tolist() == ["failed"] and rows["error"].tolist() == ["HTTP 500"]
    moved = build_messages(NOW, schedule=schedule("2026-03-02 13:00"), previous=first)
    assert moved["subject"].str.startswith("Changed assignment").all()
    outbox = plan_outbox(first, moved, NOW, OutboxConfig(per_hour=2, max_attempts=2))
    assert outbox["status"].tolist() == ["pending", "pending"]  # the retry and the change
    outbox, _ = record_deliveries(outbox, [Delivery(k, "webhook", False, "HTTP 500") for k in outbox["message_key"]], NOW)
    outbox = plan_outbox(outbox, moved, NOW + pd.Timedelta(hours=2), OutboxConfig(per_hour=2, max_attempts=2))
    assert outbox["status"].tolist() == ["failed", "pending"] and outbox["attempts"].tolist() == [2, 1]
