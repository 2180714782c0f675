"""Technician schedule over a rolling horizon: column generation (GLOP) and CP-SAT (problem.py says what a job is).

Every step minimises one weighted objective (lexicographic in practice, weights in SchedulerConfig):
    weight_tardiness * sum priority_weight * tardiness slots  (a job left unscheduled: as if started at the horizon end)
  + weight_unscheduled * unscheduled slots of work
  + weight_change * jobs moved from their slot in the previous plan
1. Hints: the greedy earliest-due-date plan (the baseline) and a priority-first list schedule.
2. Patterns (patterns.py, most of the time): a plan is one set of jobs per technician shift window.
   Column generation over these patterns proves a Lagrangian lower bound, then a dive in its linear
   relaxation, a CP-SAT finish and a local search give a plan.
3. Timing (CP-SAT, the time left): an optional interval per (job, technician, window) for the window of
   the best plan so far and the neighbouring windows of the same technician, or every window of the job
   on small problems (FULL_TIMING_OPTIONS); AddNoOverlap per technician (its windows are disjoint);
   T >= end - due when present. Exact start times on the grid, and the previous plan's slots where
   nothing is lost by keeping them.
`best_bound` is the larger of two lower bounds of the objective of every plan of the problem, the one
`objective` is evaluated on (`objective_value`): the Lagrangian bound of step 2 (valid for any prices;
the proof is in patterns.py) and, when step 3 took every option, CP-SAT's proven bound (its model is then
the whole problem). `gap` = (objective - best_bound) / objective; OPTIMAL means objective <= best_bound.
Everything stops at `time_limit_seconds`; CP-SAT uses `num_workers` workers and a fixed seed.
The result is never worse than the hints: if a hint is better, it is returned (method 'greedy_fallback').
Overdue requests have negative due slots, so every slot of delay costs: they go as early as possible, and
are flagged `overdue`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

import pandas as pd

from smart_maintenance.maintenance.config import MaintenanceConfig, SchedulerConfig
from smart_maintenance.maintenance.greedy import greedy_placements
from smart_maintenance.maintenance.patterns import solve_patterns
from smart_maintenance.maintenance.problem import (
    Job,
    Option,
    Problem,
    build_problem,
    plan_metrics,
    to_frames,
)

if TYPE_CHECKING:  # ortools is imported where a model is solved, not when Dagster loads the assets
    from ortools.sat.python import cp_model

Placements = dict[str, tuple[str, int]]  # request_id -> (technician_id, start slot)
PATTERN_SHARE = 0.85  # of the time limit, for the bound and the dived plan; the rest for the timing
TIMING_SHARE = 0.25  # of the time limit, at most, for the timing step
MIN_TIMING_SECONDS = 0.3
FRAMES_SECONDS = 0.2  # kept for building the result frames, so the limit holds
FULL_TIMING_OPTIONS = 3000  # up to this many (job, window) options, the timing step considers them all


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
        return _result(
            problem,
            greedy,
            "greedy",
            "GREEDY",
            objective_value(problem, greedy, cfg),
            None,
            time.perf_counter() - started,
        )
    if not problem.jobs:
        return _result(problem, {}, "cp_sat", "OPTIMAL", 0, 0, time.perf_counter() - started)
    hints = [greedy, greedy_placements(problem, order="priority")]

    def cost(plan: Placements) -> int:
        return objective_value(problem, plan, cfg)

    # the previous plan seeds the patterns too: kept where it still fits, so re-planning stays stable
    deadline = started + PATTERN_SHARE * cfg.time_limit_seconds
    patterns = solve_patterns(problem, cfg, hints + [dict(problem.previous)], deadline)
    best = min([patterns.plan] + hints, key=cost)  # the pattern plan wins ties
    method_used = "cp_sat" if best is patterns.plan else "greedy_fallback"
    status2, bound = None, patterns.bound
    remaining = min(cfg.time_limit_seconds - (time.perf_counter() - started) - FRAMES_SECONDS,
                    TIMING_SHARE * cfg.time_limit_seconds)  # fmt: skip
    if cost(best) > bound and remaining > MIN_TIMING_SECONDS:
        # small problems: every option, so CP-SAT's bound is one of the whole problem too
        everywhere = sum(len(job.options) for job in problem.jobs) <= FULL_TIMING_OPTIONS
        placed, status2, timing_bound = _time(problem, cfg, best, remaining, everywhere)
        if placed is not None and cost(placed) < cost(best):
            best, method_used = placed, "cp_sat"
        if timing_bound is not None:
            bound = max(bound, timing_bound)
    objective = cost(best)
    status = "OPTIMAL" if objective <= bound else "FEASIBLE"
    result = _result(problem, best, method_used, status, objective, bound, time.perf_counter() - started)
    lp_value = None if math.isnan(patterns.lp_value) else round(patterns.lp_value, 1)
    result.metrics.update({"lp_value": lp_value, "column_generation_iterations": patterns.iterations,
                           "patterns": patterns.columns, "timing_status": status2, **patterns.stats})  # fmt: skip
    return result


def _result(problem, placed, method, status, objective, bound, elapsed) -> ScheduleResult:
    schedule, unscheduled = to_frames(problem, placed, method)
    gap = None
    if objective is not None and bound is not None:
        gap = 0.0 if objective <= 0 else max(0.0, (objective - bound) / objective)
    return ScheduleResult(
        schedule, unscheduled, method, status, objective, bound, gap, elapsed, plan_metrics(problem, placed)
    )


def _solver(cfg: SchedulerConfig, time_limit: float) -> cp_model.CpSolver:
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = cfg.num_workers
    solver.parameters.random_seed = cfg.random_seed
    return solver


def _window_of(job: Job, tech: str, start: int) -> Option | None:
    return next((o for o in job.options if o.tech == tech and o.earliest <= start <= o.latest), None)


def _time(problem: Problem, cfg: SchedulerConfig, plan: Placements, time_limit: float, everywhere: bool = False):
    """Timing: exact start times, starting from `plan`; each job may use its window in the plan or a
    neighbouring one of the same technician (or stay unscheduled if the plan leaves it so), or, if
    `everywhere`, any of its options: then the model is the whole problem and its proven bound holds.
    Returns (placements or None, status, bound or None)."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    H = problem.horizon
    by_tech: dict[str, list] = {}
    choice: dict[str, list] = {}
    terms = []
    for job in problem.jobs:
        d, due, w = job.duration, job.due, cfg.weight_tardiness * job.weight
        here = plan.get(job.request_id)
        chosen = _window_of(job, *here) if here else None
        u = m.new_bool_var("")
        terms.append((w * max(0, H + d - due) + cfg.weight_unscheduled * d
                      + cfg.weight_change * (job.request_id in problem.previous)) * u)  # fmt: skip
        m.add_hint(u, chosen is None)
        lits, opts = [u], []
        near = [
            o
            for o in job.options
            if everywhere or (chosen is not None and o.tech == chosen.tech and abs(o.window - chosen.window) <= 1)
        ]
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
                m.add_hint(s, here[1])
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
        return None, name, None
    placed = {
        rid: (o.tech, solver.value(s)) for rid, opts in choice.items() for o, x, s in opts if solver.boolean_value(x)
    }
    return placed, name, math.ceil(solver.best_objective_bound - 1e-6) if everywhere else None
