"""The approval policy: which new requests are approved automatically and which wait for a human.

Rule (first match, every branch reachable; see the table tests):
1. policy disabled                                             -> human ("auto-approval disabled")
2. severity critical and approve_critical                      -> auto ("critical severity")
3. confidence unknown                                          -> human
4. confidence < min_confidence                                 -> human
5. hours to failure unknown (no failure forecast)              -> human
6. hours to failure > max_hours_to_failure                     -> human
7. otherwise (confident and failure soon)                      -> auto ("confident and failure soon")
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from smart_maintenance.maintenance.config import ApprovalPolicy

POLICY_ACTOR = "policy"


@dataclass(frozen=True)
class PolicyDecision:
    auto_approve: bool
    rule: str  # short stable name of the branch taken
    reason: str  # human-readable, with the numbers


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA or x is pd.NaT


def decide(severity: str | None, confidence: float | None, hours_to_failure: float | None,
           policy: ApprovalPolicy | None = None) -> PolicyDecision:
    """The policy for one request: severity (max of its alerts), confidence 0..1, hours to failure."""
    p = policy or ApprovalPolicy()
    if not p.enabled:
        return PolicyDecision(False, "disabled", "auto-approval disabled: a human decides")
    if p.approve_critical and severity == "critical":
        return PolicyDecision(True, "critical", "auto-approved: critical severity")
    if _missing(confidence):
        return PolicyDecision(False, "no_confidence", "human decides: confidence unknown")
    if confidence < p.min_confidence:
        return PolicyDecision(False, "low_confidence",
                              f"human decides: confidence {confidence:.2f} < {p.min_confidence:.2f}")
    if _missing(hours_to_failure):
        return PolicyDecision(False, "no_forecast", "human decides: no failure forecast (time to failure unknown)")
    if hours_to_failure > p.max_hours_to_failure:
        return PolicyDecision(False, "failure_not_soon",
                              f"human decides: failure in {hours_to_failure:.0f} h > {p.max_hours_to_failure:.0f} h")
    return PolicyDecision(True, "confident_and_soon",
                          f"auto-approved: confidence {confidence:.2f} >= {p.min_confidence:.2f} and failure in "
                          f"{hours_to_failure:.0f} h <= {p.max_hours_to_failure:.0f} h")


def decide_request(request: pd.Series | dict, policy: ApprovalPolicy | None = None) -> PolicyDecision:
    """`decide` on a maintenance_requests row (columns severity, confidence, hours_to_failure)."""
    get = request.get
    return decide(get("severity"), get("confidence"), get("hours_to_failure"), policy)
