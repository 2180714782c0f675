"""Human decisions and the lifecycle: clear errors that change nothing, audit records, events."""

import pandas as pd
import pytest

from smart_maintenance.maintenance import (
    Decision,
    DecisionError,
    TransitionError,
    apply_decisions,
    apply_events,
    transition,
)
from smart_maintenance.maintenance.lifecycle import empty_audit
from smart_maintenance_tests.maintenance.frames import MONDAY, requests

NOW = MONDAY + pd.Timedelta(hours=1)


def _state():
    reqs = requests({"request_id": "r1", "status": "pending_approval"}, {"request_id": "r2", "status": "rejected"},
                    {"request_id": "r3", "status": "completed"}, {"request_id": "r4", "status": "approved"})
    return reqs, empty_audit()


@pytest.mark.parametrize("decision", [
    Decision("nope", "approve", "ops"),  # unknown id
    Decision("r2", "approve", "ops"),  # rejected: closed
    Decision("r3", "modify", "ops", new_priority=1),  # completed: closed
    Decision("r4", "approve", "ops"),  # already approved: not an allowed transition
    Decision("r1", "modify", "ops"),  # modify without anything to modify
    Decision("r1", "escalate", "ops"),  # not a decision
])  # fmt: skip
def test_bad_decisions_raise_and_change_nothing(decision):
    reqs, audit = _state()
    before = reqs.copy()
    batch = [Decision("r1", "approve", "ops", "looks right"), decision]  # all or nothing
    with pytest.raises(DecisionError):
        apply_decisions(reqs, audit, batch, NOW)
    pd.testing.assert_frame_equal(reqs, before)
    assert len(audit) == 0


def test_decisions_change_status_and_are_audited():
    reqs, audit = _state()
    due = MONDAY + pd.Timedelta(days=2)
    out, audit = apply_decisions(reqs, audit, pd.DataFrame([
        {"request_id": "r1", "decision": "modify", "operator": "ana", "justification": "less urgent",
         "new_priority": 3, "new_due_by": due},
        {"request_id": "r4", "decision": "reject", "operator": "ben", "justification": "duplicate work order"},
    ]), NOW)  # fmt: skip
    status = dict(zip(out["request_id"], out["status"]))
    assert status["r1"] == "approved" and status["r4"] == "rejected"
    r1 = out.set_index("request_id").loc["r1"]
    assert r1["priority"] == 3 and r1["due_by"] == due
    assert audit[["request_id", "from_status", "to_status", "actor"]].values.tolist() == [
        ["r1", "pending_approval", "approved", "ana"], ["r4", "approved", "rejected", "ben"]]
    assert "less urgent" in audit.iloc[0]["reason"] and "priority 2 -> 3" in audit.iloc[0]["reason"]
    assert (audit["at"] == NOW).all()


def test_transition_validates():
    reqs, audit = _state()
    with pytest.raises(TransitionError):
        transition(reqs, audit, "r1", "completed", "x", NOW, "skipping steps")
    out, audit = transition(reqs, audit, "r1", "deferred", "ana", NOW, "wait for parts")
    assert out.set_index("request_id").at["r1", "status"] == "deferred" and len(audit) == 1


def test_events_start_and_complete_work_with_actual_duration():
    reqs = requests({"request_id": "r1", "equipment_id": "pump-1", "status": "scheduled"},
                    {"request_id": "r2", "equipment_id": "fan-2", "status": "approved"})
    events = pd.DataFrame([
        {"equipment_id": "pump-1", "timestamp": NOW, "event_type": "work_started", "request_id": "r1"},
        {"equipment_id": "pump-1", "timestamp": NOW + pd.Timedelta(hours=3), "event_type": "corrective_repair",
         "request_id": "r1"},
        {"equipment_id": "fan-2", "timestamp": NOW + pd.Timedelta(hours=2), "event_type": "inspection"},
        {"equipment_id": "motor-9", "timestamp": NOW, "event_type": "inspection"},
    ])  # fmt: skip
    out, audit, ignored = apply_events(reqs, None, events)
    r = out.set_index("request_id")
    assert r.at["r1", "status"] == "completed" and r.at["r1", "actual_duration_hours"] == 3.0
    assert r.at["r2", "status"] == "completed"  # matched by equipment; no start known -> zero-length
    assert audit["to_status"].tolist().count("completed") == 2
    assert ignored["equipment_id"].tolist() == ["motor-9"]
