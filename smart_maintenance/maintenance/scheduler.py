"""Technician schedule with OR-Tools CP-SAT over a rolling horizon (problem.py says what a job is).

Both phases minimise one weighted objective (lexicographic in practice, weights in SchedulerConfig):
    weight_tardiness * sum priority_weight * tardiness slots  (a job left unscheduled: as if started at the horizon end)
  + weight_unscheduled * unscheduled slots of work
  + weight_change * jobs moved from their slot in the previous plan
1. Assignment: a boolean per (job, qualified technician, free shift window the job fits in) and one
   "unscheduled" boolean per job, exactly one true; per window the assigned work fits its length (a set
   of jobs that fits one window can always be sequenced in it). Tardiness in a window is counted from
   the earliest the job could end there (window start + duration): a relaxation of the real schedule,
   so this phase's proven bound is a valid lower bound of the whole problem (`best_bound`;
   `gap` = (objective - best_bound) / objective).
2. Timing: an optional interval per (job, technician, window) for the window chosen in phase 1 and the
   neighbouring windows of the same technician; AddNoOverlap per technician (its windows are disjoint);
   T >= end - due when present. This gives exact start times on the grid and repairs phase 1's optimism.
Both phases start from a hint (the better of the greedy EDD plan and a priority-first list schedule, then phase 1), use `num_workers` workers and a fixed seed.
The result is never worse than the greedy baseline: if it would be, or if CP-SAT found nothing in time,
the greedy plan is returned (method 'greedy_fallback'). Overdue requests have negative due slots, so every
slot of delay costs: they go as early as possible, and are flagged `overdue`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
from ortools.sat.python import cp_model

from smart_maintenance.maintenance.config import MaintenanceConfig, SchedulerConfig
from smart_maintenance.maintenance.greedy import greedy_placements
from smart_maintenance.maintenance.problem import Job, Option, Problem, build_problem, plan_metrics, to_frames

Placements = dict[str, tuple[str, int]]  # request_id -> (technician_id, start slot)


@dataclass
class ScheduleResult:
    schedule: pd.DataFrame  # TECHNICIAN_SCHEDULE columns
    unscheduled: pd.DataFrame  # UNSCHEDULED_REQUESTS columns
    method: str  # cp_sat, greedy, greedy_fallback
    status: str  # OPTIMAL (proven), FEASIBLE, GREEDY, or the CP-SAT status when nothing was found
    objective: float | None
    best_bound: float | None
    gap: float | None  # (objective - bound) / objective
    solve_seconds: float
    metrics: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        return {"method": self.method, "status": self.status, "objective": self.objective,
                "best_bound": self.best_bound, "gap": self.gap, "solve_seconds": round(self.solve_seconds, 3),
                **self.metrics}  # fmt: skip


def plan_schedule(
    requests: pd.DataFrame,
    technicians: pd.DataFrame,
    now: datetime | pd.Timestamp,
    config: MaintenanceConfig | None = None,
    previous_plan: pd.DataFrame | None = None,
    holidays: list[date] | None = None,
    absences: pd.DataFrame | None = None,
    method: str = "cp_sat",
) -> ScheduleResult:
    """Plan the approved requests (status approved or scheduled) on the technicians' shifts.

    requests: MAINTENANCE_REQUESTS rows; technicians: TECHNICIANS rows (+ optional workdays column);
    previous_plan: the last technician_schedule (frozen work, stable re-planning); method: cp_sat or greedy.
    """
    config = config or MaintenanceConfig()
    problem = build_problem(requests, technicians, now, config, previous_plan, holidays, absences)
    return solve(problem, config, method)


def objective_value(problem: Problem, placed: Placements, cfg: SchedulerConfig) -> int:
    """The objective both phases minimise, evaluated on a plan."""
    total = 0
    for job in problem.jobs:
        if job.request_id in placed:
            tech, s = placed[job.request_id]
            total += cfg.weight_tardiness * job.weight * max(0, s + job.duration - job.due)
            prev = problem.previous.get(job.request_id)
            total += cfg.weight_change * (prev is not None and prev != (tech, s))
        else:
            total += cfg.weight_tardiness * job.weight * max(0, problem.horizon + job.duration - job.due)
            total += cfg.weight_unscheduled * job.duration + cfg.weight_change * (job.request_id in problem.previous)
    return total


def solve(problem: Problem, config: MaintenanceConfig | None = None, method: str = "cp_sat") -> ScheduleResult:
    config = config or MaintenanceConfig()
    cfg = config.scheduler
    started = time.perf_counter()
    greedy = greedy_placements(problem)
    if method == "greedy":
        return _result(problem, greedy, "greedy", "GREEDY", objective_value(problem, greedy, cfg), None,
                       time.perf_counter() - started)
    if not problem.jobs:
        return _result(problem, {}, "cp_sat", "OPTIMAL", 0, 0, time.perf_counter() - started)
    # start from the better of the EDD baseline and a priority-first list schedule
    by_priority = greedy_placements(problem, order="priority")
    hint = min((greedy, by_priority), key=lambda p: objective_value(problem, p, cfg))
    assigned, bound, status1 = _assign(problem, cfg, hint, 0.7 * cfg.time_limit_seconds)
    if assigned is None:
        return _result(problem, hint, "greedy_fallback", status1, objective_value(problem, hint, cfg), None,
                       time.perf_counter() - started)
    remaining = max(1.0, cfg.time_limit_seconds - (time.perf_counter() - started))
    placed, status2 = _time(problem, cfg, assigned, remaining)
    best, method_used = placed, "cp_sat"
    if placed is None or objective_value(problem, hint, cfg) < objective_value(problem, placed, cfg):
        best, method_used = hint, "greedy_fallback"
    objective = objective_value(problem, best, cfg)
    status = "OPTIMAL" if bound is not None and objective <= bound else "FEASIBLE"
    result = _result(problem, best, method_used, status, objective, bound, time.perf_counter() - started)
    result.metrics.update({"assignment_status": status1, "timing_status": status2})
    return result


def _result(problem, placed, method, status, objective, bound, elapsed) -> ScheduleResult:
    schedule, unscheduled = to_frames(problem, placed, method)
    gap = None
    if objective is not None and bound is not None:
        gap = 0.0 if objective <= 0 else max(0.0, (objective - bound) / objective)
    return ScheduleResult(schedule, unscheduled, method, status, objective, bound, gap, elapsed,
                          plan_metrics(problem, placed))


def _solver(cfg: SchedulerConfig, time_limit: float) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = cfg.num_workers
    solver.parameters.random_seed = cfg.random_seed
    return solver


def _window_of(job: Job, tech: str, start: int) -> Option | None:
    return next((o for o in job.options if o.tech == tech and o.earliest <= start <= o.latest), None)


def _assign(problem: Problem, cfg: SchedulerConfig, hint: Placements, time_limit: float):
    """Phase 1: jobs to (technician, window). Returns ({request_id: Option}, proven bound, status)."""
    m = cp_model.CpModel()
    H = problem.horizon
    by_window: dict[tuple[str, int], list] = {}
    choice: dict[str, list] = {}
    terms = []
    for job in problem.jobs:
        u = m.new_bool_var("")
        w = cfg.weight_tardiness * job.weight
        terms.append((w * max(0, H + job.duration - job.due) + cfg.weight_unscheduled * job.duration
                      + cfg.weight_change * (job.request_id in problem.previous)) * u)  # fmt: skip
        h = hint.get(job.request_id)
        hinted = _window_of(job, *h) if h else None
        m.add_hint(u, hinted is None)
        prev = problem.previous.get(job.request_id)
        lits, opts = [u], []
        for o in job.options:
            x = m.new_bool_var("")
            moved = prev is not None and _window_of(job, *prev) != o  # another window: certainly a change
            terms.append((w * max(0, o.earliest + job.duration - job.due) + cfg.weight_change * moved) * x)
            by_window.setdefault((o.tech, o.window), []).append((x, job.duration))
            m.add_hint(x, o == hinted)
            lits.append(x)
            opts.append((o, x))
        m.add_exactly_one(lits)
        choice[job.request_id] = opts
    for (tech, w), items in by_window.items():
        a, b = problem.windows[tech][w]
        if sum(d for _, d in items) > b - a:
            m.add(sum(d * x for x, d in items) <= b - a)
    m.minimize(sum(terms))
    solver = _solver(cfg, time_limit)
    status = solver.solve(m)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, None, name
    assigned = {rid: o for rid, opts in choice.items() for o, x in opts if solver.boolean_value(x)}
    # every term is >= 0: a negative bound (search stopped before any bound work) says nothing more than 0
    return assigned, max(0.0, solver.best_objective_bound), name


def _time(problem: Problem, cfg: SchedulerConfig, assigned: dict[str, Option], time_limit: float):
    """Phase 2: exact start times; each job may use its phase-1 window or a neighbouring one of the same
    technician (or stay unscheduled if phase 1 left it so). Returns (placements, status)."""
    m = cp_model.CpModel()
    H = problem.horizon
    by_tech: dict[str, list] = {}
    choice: dict[str, list] = {}
    terms = []
    hint_starts = _sequence_hint(problem, assigned)
    for job in problem.jobs:
        d, due, w = job.duration, job.due, cfg.weight_tardiness * job.weight
        chosen = assigned.get(job.request_id)
        u = m.new_bool_var("")
        terms.append((w * max(0, H + d - due) + cfg.weight_unscheduled * d
                      + cfg.weight_change * (job.request_id in problem.previous)) * u)  # fmt: skip
        m.add_hint(u, chosen is None)
        lits, opts = [u], []
        near = [] if chosen is None else [o for o in job.options if o.tech == chosen.tech and abs(o.window - chosen.window) <= 1]
        prev = problem.previous.get(job.request_id)
        T = m.new_int_var(0, max([0] + [o.latest + d - due for o in near]), "")
        terms.append(w * T)
        for o in near:
            x = m.new_bool_var("")
            s = m.new_int_var(o.earliest, o.latest, "")
            by_tech.setdefault(o.tech, []).append(m.new_optional_fixed_size_interval_var(s, d, x, ""))
            if o.latest + d > due:
                m.add(T >= s + d - due).only_enforce_if(x)
            on = o == chosen
            m.add_hint(x, on)
            if on:
                m.add_hint(s, hint_starts[job.request_id])
            if prev is not None:
                if prev[0] == o.tech and o.earliest <= prev[1] <= o.latest:
                    same = m.new_bool_var("")
                    m.add(s == prev[1]).only_enforce_if(same)
                    m.add(s != prev[1]).only_enforce_if(same.negated())
                    terms.append(cfg.weight_change * (x - same))  # present and moved
                    m.add_implication(same, x)
                else:
                    terms.append(cfg.weight_change * x)
            lits.append(x)
            opts.append((o, x, s))
        m.add_exactly_one(lits)
        choice[job.request_id] = opts
    for intervals in by_tech.values():
        m.add_no_overlap(intervals)
    m.minimize(sum(terms))
    solver = _solver(cfg, time_limit)
    status = solver.solve(m)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, name
    placed = {rid: (o.tech, solver.value(s)) for rid, opts in choice.items() for o, x, s in opts if solver.boolean_value(x)}
    return placed, name


def _sequence_hint(problem: Problem, assigned: dict[str, Option]) -> dict[str, int]:
    """Start slots for the phase-1 assignment: each window's jobs back to back, by due slot then weight."""
    jobs = {j.request_id: j for j in problem.jobs}
    by_window: dict[tuple[str, int], list[Job]] = {}
    for rid, o in assigned.items():
        by_window.setdefault((o.tech, o.window), []).append(jobs[rid])
    starts = {}
    for (tech, w), members in by_window.items():
        t = problem.windows[tech][w][0]
        for job in sorted(members, key=lambda j: (j.due, -j.weight, j.request_id)):
            starts[job.request_id] = t
            t += job.duration
    return starts
