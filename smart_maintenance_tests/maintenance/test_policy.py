"""The approval policy, one row per branch (the old rule's second branch was unreachable)."""

import pytest

from smart_maintenance.maintenance import ApprovalPolicy, decide

POLICY = ApprovalPolicy(min_confidence=0.8, max_hours_to_failure=72)


@pytest.mark.parametrize(
    ("severity", "confidence", "hours", "auto", "rule"),
    [
        ("critical", None, None, True, "critical"),  # critical alone is enough
        ("critical", 0.1, 500.0, True, "critical"),
        ("high", None, 10.0, False, "no_confidence"),
        ("high", 0.79, 10.0, False, "low_confidence"),
        (None, 0.95, None, False, "no_forecast"),
        (None, 0.95, 72.5, False, "failure_not_soon"),
        (None, 0.8, 72.0, True, "confident_and_soon"),  # both bounds inclusive
        ("medium", 0.9, 5.0, True, "confident_and_soon"),
        ("low", float("nan"), 5.0, False, "no_confidence"),
    ],
)
def test_policy_table(severity, confidence, hours, auto, rule):
    d = decide(severity, confidence, hours, POLICY)
    assert (d.auto_approve, d.rule) == (auto, rule)
    assert d.reason


def test_disabled_policy_and_critical_switch():
    assert decide("critical", 1.0, 1.0, ApprovalPolicy(enabled=False)).rule == "disabled"
    d = decide("critical", 0.5, 1.0, ApprovalPolicy(approve_critical=False))
    assert (d.auto_approve, d.rule) == (False, "low_confidence")
