"""The human in the loop: `decide_request`, a job whose launchpad config is the decision.

In the Dagster UI: Jobs -> decide_request -> Launchpad, fill in the request id, the decision, your name
and why, launch. The decision goes through the core's `apply_decisions` (the same rules as decision
files): an unknown request id, a closed request or a decision the request's status does not allow fails
the run with that message and changes nothing. Otherwise the requests and the audit log are rewritten
(under the requests lock) and a materialization of `maintenance_requests` is reported, so the automation
re-plans `technician_schedule` (a rejected or deferred request leaves the plan, an approved one enters it).
"""

from enum import Enum

import dagster as dg
import pandas as pd
from pydantic import Field

from smart_maintenance.defs.maintenance.assets import read_state, requests_lock, write_state
from smart_maintenance.defs.maintenance.resources import MaintenanceResource
from smart_maintenance.defs.resources import DataRootResource
from smart_maintenance.maintenance import Decision, DecisionError, apply_decisions


class DecisionKind(str, Enum):
    approve = "approve"
    reject = "reject"
    defer = "defer"
    modify = "modify"


class DecisionConfig(dg.Config):
    """One decision on one maintenance request."""

    request_id: str = Field(description="The request, e.g. MR-3f2a9c1b7d40 (see the maintenance_requests asset).")
    decision: DecisionKind = Field(description=(
        "approve: pending or deferred -> approved (it gets scheduled). "
        "reject: the request is closed and never scheduled. "
        "defer: set aside (leaves the plan) until approved later. "
        "modify: change new_priority and/or new_due_by; a pending or deferred request is approved with the changes."))
    justification: str = Field(description="Why: kept in the audit log.")
    operator: str = Field(description="Who decides: kept in the audit log.")
    new_priority: int | None = Field(default=None, description="modify only: 1 (most urgent) .. 4.")
    new_due_by: str | None = Field(default=None, description="modify only: ISO time, e.g. 2026-03-04T12:00:00Z (naive means UTC).")


@dg.op(description="Apply one decision to a maintenance request and log it in the request audit.")
def apply_decision(context: dg.OpExecutionContext, config: DecisionConfig, data_root: DataRootResource,
                   maintenance: MaintenanceResource) -> None:
    root = data_root.get()
    if not config.operator.strip() or not config.justification.strip():
        raise dg.Failure(description="A decision needs the operator and a justification: nothing changed.")
    due = None
    if config.new_due_by:
        try:
            due = pd.Timestamp(config.new_due_by)
        except ValueError:
            raise dg.Failure(description=f"new_due_by {config.new_due_by!r} is not an ISO time: nothing changed.") from None
    now = maintenance.current_time(root)
    if now is None:
        raise dg.Failure(description="There are no readings in the lake yet, so there is no request to decide on.")
    decision = Decision(config.request_id.strip(), config.decision.value, config.operator.strip(),
                        config.justification.strip(), config.new_priority, due)
    with requests_lock(root):
        requests, audit = read_state(root)
        before = dict(zip(requests["request_id"], requests["status"]))
        try:
            requests, audit = apply_decisions(requests, audit, [decision], now)
        except DecisionError as e:
            raise dg.Failure(description=f"Decision not applied, nothing changed: {e}",
                             metadata={"request_id": decision.request_id, "decision": decision.decision}) from None
        write_state(root, requests, audit)
    after = requests.loc[requests["request_id"] == decision.request_id].iloc[0]
    context.log.info(f"{decision.request_id}: {before[decision.request_id]} -> {after['status']} by {decision.operator}")
    context.log_event(dg.AssetMaterialization("maintenance_requests", description=f"decision by {decision.operator}", metadata={
        "dagster/row_count": len(requests), "request_id": decision.request_id, "decision": decision.decision,
        "from_status": before[decision.request_id], "to_status": after["status"], "operator": decision.operator,
        "justification": decision.justification, "at": str(now)}))


@dg.job(name="decide_request", description="A human decision on a maintenance request (approve / reject / defer / modify), "
                                            "from the launchpad; the schedule follows through the automation.",
        tags={"dagster/concurrency_key": "maintenance_requests"})
def decide_request_job():
    apply_decision()


JOBS = [decide_request_job]
