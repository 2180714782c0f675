"""Humans in the loop: the decide_request job, decision files dropped in landing/, maintenance events."""

from __future__ import annotations

import pandas as pd

from smart_maintenance.runner import run_once
from smart_maintenance_tests.conftest import drop
from smart_maintenance_tests.maintenance_assets.pipeline import (
    automation_tick, check_passed, decide, materialization_metadata, materialize, refresh_all, table,
)  # fmt: skip
from smart_maintenance_tests.maintenance_assets.test_requests_assets import HUMAN


def _status(root) -> dict[str, str]:
    requests = table(root, "maintenance_requests")
    return dict(zip(requests["request_id"], requests["status"]))


def _state_bytes(root) -> dict[str, bytes]:
    return {d: (root.lake / d / "data.parquet").read_bytes() for d in ("maintenance_requests", "request_audit")}


def test_decide_request_job_approves_rejects_and_refuses_unknown_ids_without_changing_anything(root):
    refresh_all(root, **HUMAN)
    ids = sorted(table(root, "maintenance_requests")["request_id"])
    keep, drop_ = ids[0], ids[1]
    _, cursor = automation_tick(root, **HUMAN)

    approved = decide(root, {"request_id": keep, "decision": "approve", "operator": "j.doe",
                             "justification": "bearing noise confirmed on site"}, **HUMAN)
    assert approved.success
    assert _status(root)[keep] == "approved"
    audit = table(root, "request_audit")
    row = audit[(audit["request_id"] == keep) & (audit["to_status"] == "approved")].iloc[0]
    assert (row["from_status"], row["actor"]) == ("pending_approval", "j.doe")
    assert "bearing noise confirmed on site" in row["reason"]
    meta = materialization_metadata(approved, "maintenance_requests")  # the automation re-plans on this
    assert (meta["from_status"], meta["to_status"], meta["operator"]) == ("pending_approval", "approved", "j.doe")

    assert decide(root, {"request_id": drop_, "decision": "reject", "operator": "j.doe",
                         "justification": "duplicate of a work order already open"}, **HUMAN).success
    before = _state_bytes(root)
    for bad, message in ((ids[0] + "x", "unknown request_id"), (drop_, "rejected (closed)")):
        failed = decide(root, {"request_id": bad, "decision": "approve", "operator": "j.doe", "justification": "go"}, **HUMAN)
        assert not failed.success
        (failure,) = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
        assert message in failure.step_failure_data.user_failure_data.description
        assert _state_bytes(root) == before  # nothing changed

    # the schedule follows: the automation launches it (and the outbox), not the requests themselves ...
    launched, _ = automation_tick(root, cursor, **HUMAN)
    assert {"technician_schedule", "notification_outbox"} <= launched and "maintenance_requests" not in launched
    # ... and only the approved request is planned, the rejected one never
    runs = refresh_all(root, **HUMAN)
    assert [k for k, _ in runs] == ["technician_schedule", "notification_outbox"] and all(r.success for _, r in runs)
    schedule = table(root, "technician_schedule")
    assert list(schedule["request_id"]) == [keep]
    assert _status(root)[keep] == "scheduled" and _status(root)[drop_] == "rejected"
    assert check_passed(root, "technician_schedule", "plan_is_valid")
    meta = materialization_metadata(dict(runs)["technician_schedule"], "technician_schedule")
    assert meta["solver_status"] in ("OPTIMAL", "FEASIBLE") and meta["scheduled"] == 1 and meta["gap"] >= 0
    scheduler = table(root, "request_audit").query("request_id == @keep and to_status == 'scheduled'")
    assert list(scheduler["actor"]) == ["scheduler"]


def test_decision_files_and_maintenance_events_in_landing_are_applied_on_the_next_run(root):
    refresh_all(root, **HUMAN)
    requests = table(root, "maintenance_requests").sort_values("request_id")
    done, yes, no, later = requests["request_id"].iloc[:4]
    assert decide(root, {"request_id": done, "decision": "approve", "operator": "j.doe", "justification": "ok"}, **HUMAN).success
    refresh_all(root, **HUMAN)
    planned = table(root, "technician_schedule").set_index("request_id").loc[done]
    equipment = requests.set_index("request_id").loc[done, "equipment_id"]
    finished = planned["start"] + pd.Timedelta(hours=3)

    drop(root, "decisions/shift-handover.csv", "request_id,decision,operator,justification\n"
         f"{yes},approve,m.rossi,vibration trend confirmed by walk-down\n{no},reject,m.rossi,sensor was being recalibrated\n")
    drop(root, "decisions/typo.csv",
         f"request_id,decision,operator,justification\n{later},approve,a.b,ok\nMR-nosuchid,approve,a.b,ok\n")
    drop(root, "events/repairs.csv", "equipment_id,timestamp,event_type,request_id,technician_id,notes\n"
         f"{equipment},{finished.isoformat()},corrective_repair,{done},{planned['technician_id']},bearing replaced\n")
    summary = run_once(root, min_file_age_seconds=0)
    # (not summary.success: that also covers steps not under test here, e.g. the daily report)
    assert {s: ok for s, ok, _ in summary.runs}["ingest landing files"]
    assert sorted((f["kind"], f["status"]) for f in summary.files) == [
        ("decisions", "ingested"), ("decisions", "ingested"), ("maintenance_events", "ingested")]
    assert all(r.success for _, r in refresh_all(root, **HUMAN))  # (run_once may already have done it)

    status = _status(root)
    assert (status[yes], status[no], status[later]) == ("scheduled", "rejected", "pending_approval")
    audit = table(root, "request_audit")
    by_file = audit[audit["reason"].str.contains("decision file", regex=False)]
    assert sorted(zip(by_file["request_id"], by_file["to_status"], by_file["actor"])) == sorted(
        [(yes, "approved", "m.rossi"), (no, "rejected", "m.rossi")])
    assert by_file["reason"].str.contains("vibration trend confirmed by walk-down").any()
    inputs = table(root, "request_inputs")
    decisions = inputs[inputs["source"] == "decisions"]
    assert sorted(decisions["outcome"]) == ["applied", "applied", "refused", "refused"]  # a bad file: nothing of it
    assert decisions.loc[decisions["outcome"] == "refused", "detail"].str.contains("unknown request_id 'MR-nosuchid'").all()
    assert not check_passed(root, "maintenance_requests", "decision_files_applied")  # a warning in the UI
    assert no not in set(table(root, "technician_schedule")["request_id"])

    # closing the loop: the repair event completed the planned work and recorded how long it took
    closed = table(root, "maintenance_requests").set_index("request_id").loc[done]
    assert closed["status"] == "completed" and closed["actual_end"] == finished
    assert closed["actual_duration_hours"] == 3.0  # from the planned start to the repair
    assert done not in set(table(root, "technician_schedule")["request_id"])

    # nothing is applied twice
    n_audit = len(table(root, "request_audit"))
    assert materialize(root, "maintenance_requests", **HUMAN).success
    assert len(table(root, "request_audit")) == n_audit and len(table(root, "request_inputs")) == len(inputs)
