"""Maintenance requests, approvals and technician schedules: the functional core (no Dagster here).

Typical use (one pipeline pass)::

    requests, audit = update_requests(requests, alerts, forecasts, now, equipment, config, audit)
    requests, audit = apply_decisions(requests, audit, decisions, now)           # humans
    requests, audit, ignored = apply_events(requests, audit, events, schedule)   # closing the loop
    result = plan_schedule(requests, technicians, now, config, previous_plan=schedule)
    passed, metadata = check_plan(result.schedule, requests, technicians, config, now=now)
    requests, audit = mark_scheduled(requests, audit, result.schedule, now)

Evaluation: `smart_maintenance.maintenance.evaluation.evaluate_scheduling(sizes=(50, 200, 500), seed=0)`
(CP-SAT against the greedy baseline); command: `python -m smart_maintenance.maintenance.evaluation`.
"""

from smart_maintenance.maintenance.config import (
    ApprovalPolicy,
    MaintenanceConfig,
    RequestConfig,
    SchedulerConfig,
    ShiftConfig,
    WorkType,
)
from smart_maintenance.maintenance.decisions import Decision, DecisionError, apply_decisions, decisions_from_frame
from smart_maintenance.maintenance.lifecycle import (
    CLOSED,
    OPEN,
    STATUSES,
    TransitionError,
    apply_events,
    mark_scheduled,
    transition,
)
from smart_maintenance.maintenance.plan_checks import check_plan
from smart_maintenance.maintenance.policy import PolicyDecision, decide, decide_request
from smart_maintenance.maintenance.requests import update_requests
from smart_maintenance.maintenance.scheduler import ScheduleResult, plan_schedule
from smart_maintenance.maintenance.shifts import expand_shifts

__all__ = [
    "CLOSED", "OPEN", "STATUSES", "ApprovalPolicy", "Decision", "DecisionError", "MaintenanceConfig",
    "PolicyDecision", "RequestConfig", "ScheduleResult", "SchedulerConfig", "ShiftConfig", "TransitionError",
    "WorkType", "apply_decisions", "apply_events", "check_plan", "decide", "decide_request", "decisions_from_frame",
    "expand_shifts", "mark_scheduled",
    "plan_schedule", "transition", "update_requests",
]  # fmt: skip
