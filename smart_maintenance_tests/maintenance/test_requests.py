"""Requests from alerts and forecasts: one open request per equipment problem, types, due dates, policy."""

import pandas as pd

from smart_maintenance.maintenance import update_requests
from smart_maintenance_tests.maintenance.frames import alert

NOW = pd.Timestamp("2026-03-02 12:00", tz="UTC")
EQUIPMENT = pd.DataFrame({"equipment_id": ["pump-1", "fan-2"], "type": ["pump", "fan"]})


def test_second_alert_updates_the_open_request_instead_of_a_duplicate():
    first = pd.DataFrame([alert("a1", "pump-1", "2026-03-02 08:00", severity="medium", peak=0.7)])
    reqs, audit = update_requests(None, first, None, NOW, EQUIPMENT)
    assert len(reqs) == 1
    row = reqs.iloc[0]
    assert (row["request_type"], row["priority"], row["status"]) == ("inspection", 3, "pending_approval")
    assert row["due_by"] == pd.Timestamp("2026-03-05 08:00", tz="UTC")  # medium: 3 days after the start
    assert row["required_skills"] == "mechanical" and row["estimated_duration_hours"] == 1.0

    both = pd.concat([first, pd.DataFrame([alert("a2", "pump-1", "2026-03-02 10:00", severity="high", peak=0.75)])])
    later = NOW + pd.Timedelta(hours=1)
    reqs2, audit2 = update_requests(reqs, both, None, later, EQUIPMENT, audit=audit)
    assert len(reqs2) == 1 and reqs2.iloc[0]["request_id"] == row["request_id"]
    updated = reqs2.iloc[0]
    assert updated["evidence_alert_ids"] == "a1;a2"
    assert (updated["request_type"], updated["priority"], updated["severity"]) == ("urgent_corrective", 2, "high")
    assert updated["due_by"] == pd.Timestamp("2026-03-03 10:00", tz="UTC")  # earlier, never relaxed
    assert updated["required_skills"] == "mechanical;pump" and updated["estimated_duration_hours"] == 4.0
    # re-running with the same evidence changes nothing
    reqs3, audit3 = update_requests(reqs2, both, None, later, EQUIPMENT, audit=audit2)
    assert reqs3["evidence_alert_ids"].tolist() == ["a1;a2"] and len(audit3) == len(audit2)


def test_not_credible_alerts_open_nothing_and_other_equipment_gets_its_own_request():
    alerts = pd.DataFrame([
        alert("a1", "pump-1", "2026-03-02 08:00", status="suspected_false_positive"),
        alert("a2", "fan-2", "2026-03-02 09:00", severity="low", peak=0.6),
    ])  # fmt: skip
    reqs, _ = update_requests(None, alerts, None, NOW, EQUIPMENT)
    assert reqs["equipment_id"].tolist() == ["fan-2"]


def test_forecast_gives_preventive_request_due_before_failure_minus_margin_and_policy_approves():
    forecasts = pd.DataFrame([{
        "equipment_id": "pump-1", "as_of": NOW - pd.Timedelta(hours=2), "rul_hours": 80.0, "rul_lower_hours": 60.0,
        "predicted_failure_at": NOW + pd.Timedelta(hours=78), "p_fail_7d": 0.9, "method": "weibull",
        "beyond_horizon": False}])  # fmt: skip
    reqs, audit = update_requests(None, None, forecasts, NOW, EQUIPMENT)
    row = reqs.iloc[0]
    # conservative failure = as_of + 60 h = now + 58 h -> urgent (<= 72 h); due 24 h before it
    assert row["request_type"] == "urgent_corrective" and row["priority"] == 2
    assert row["due_by"] == NOW + pd.Timedelta(hours=34)
    assert row["status"] == "approved" and row["approval_rule"] == "confident_and_soon"
    assert audit["to_status"].tolist() == ["pending_approval", "approved"]
    assert audit.iloc[1]["actor"] == "policy"


def test_critical_alert_is_auto_approved_and_low_risk_forecast_opens_nothing():
    alerts = pd.DataFrame([alert("a1", "fan-2", "2026-03-02 11:00", severity="critical", peak=0.5)])
    quiet = pd.DataFrame([{"equipment_id": "pump-1", "as_of": NOW, "rul_hours": 5000.0, "rul_lower_hours": 4000.0,
                           "predicted_failure_at": NOW + pd.Timedelta(hours=5000), "p_fail_7d": 0.01,
                           "method": "weibull", "beyond_horizon": True}])  # fmt: skip
    reqs, _ = update_requests(None, alerts, quiet, NOW, EQUIPMENT)
    assert len(reqs) == 1
    row = reqs.iloc[0]
    assert (row["status"], row["priority"], row["approval_rule"]) == ("approved", 1, "critical")
    assert row["due_by"] == pd.Timestamp("2026-03-02 15:00", tz="UTC")


def test_alert_followed_by_a_repair_opens_no_request():
    import pandas as pd

    from smart_maintenance.maintenance import update_requests

    now = pd.Timestamp("2026-03-02T00:00:00Z")
    alerts = pd.DataFrame({
        "alert_id": ["a-old", "a-new"], "equipment_id": ["pump-1", "pump-2"], "sensor_id": ["vib", "vib"],
        "started_at": pd.to_datetime(["2026-03-01T01:00:00Z", "2026-03-01T20:00:00Z"]),
        "ended_at": pd.to_datetime(["2026-03-01T02:00:00Z", "2026-03-01T21:00:00Z"]),
        "severity": ["critical", "critical"], "validation_status": ["credible", "credible"], "peak_score": [0.99, 0.99]})
    events = pd.DataFrame({"equipment_id": ["pump-1", "pump-2"], "event_type": ["corrective_repair", "corrective_repair"],
                           "timestamp": pd.to_datetime(["2026-03-01T06:00:00Z", "2026-03-01T10:00:00Z"])})
    requests, _ = update_requests(None, alerts, None, now, events=events)
    assert requests["equipment_id"].tolist() == ["pump-2"]  # pump-1's alert was fixed by the repair after it
