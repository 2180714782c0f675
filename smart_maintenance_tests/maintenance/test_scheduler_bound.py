"""The scheduler's lower bound: pricing is exact or an upper bound, and best_bound <= optimum <= objective."""

from dataclasses import replace
from datetime import timedelta
from itertools import combinations

import numpy as np
import pytest
from ortools.sat.python import cp_model

from smart_maintenance.maintenance.config import MaintenanceConfig, SchedulerConfig
from smart_maintenance.maintenance.evaluation import generate_instance
from smart_maintenance.maintenance.greedy import greedy_placements
from smart_maintenance.maintenance.pattern_pricing import Pricing, Windows
from smart_maintenance.maintenance.patterns import solve_patterns
from smart_maintenance.maintenance.problem import Problem, build_problem
from smart_maintenance.maintenance.scheduler import objective_value, solve


def small_problem(n: int, technicians: int, days: int, seed: int) -> tuple[Problem, MaintenanceConfig]:
    """An overloaded little plant: tardiness is unavoidable, so the bound has something to prove."""
    inst = generate_instance(n, n_technicians=technicians, days=days, seed=seed)
    config = MaintenanceConfig()
    config = replace(config, scheduler=replace(config.scheduler, horizon=timedelta(days=days), time_limit_seconds=3.0))
    return build_problem(inst.requests, inst.technicians, inst.now, config), config


def exact_optimum(problem: Problem, cfg: SchedulerConfig) -> int:
    """The whole problem as one CP-SAT model (an optional interval per job option, no overlap per
    technician), solved to optimality: the reference the bound is checked against."""
    m = cp_model.CpModel()
    by_tech: dict[str, list] = {}
    terms = []
    for job in problem.jobs:
        w = cfg.weight_tardiness * job.weight
        unscheduled = m.new_bool_var("")
        terms.append((w * max(0, problem.horizon + job.duration - job.due) + cfg.weight_unscheduled * job.duration)
                     * unscheduled)  # fmt: skip
        late = m.new_int_var(0, max(0, problem.horizon + job.duration - job.due), "")
        terms.append(w * late)
        chosen = [unscheduled]
        for o in job.options:
            x, start = m.new_bool_var(""), m.new_int_var(o.earliest, o.latest, "")
            by_tech.setdefault(o.tech, []).append(m.new_optional_fixed_size_interval_var(start, job.duration, x, ""))
            m.add(late >= start + job.duration - job.due).only_enforce_if(x)
            chosen.append(x)
        m.add_exactly_one(chosen)
    for intervals in by_tech.values():
        m.add_no_overlap(intervals)
    m.minimize(sum(terms))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 2
    solver.parameters.max_time_in_seconds = 60
    assert solver.solve(m) == cp_model.OPTIMAL
    return round(solver.objective_value)


def test_pricing_is_exact_and_its_relaxations_are_upper_bounds():
    problem, config = small_problem(14, 2, 2, seed=3)
    windows = Windows(problem, config.scheduler)
    pricing = Pricing(windows)
    rng = np.random.default_rng(0)
    none = np.zeros(len(windows.d), dtype=bool)
    for _ in range(5):
        pi = rng.uniform(0, 1.5, len(windows.d)) * np.array(windows.unscheduled) / 4
        exact, patterns = pricing.best_patterns(pi, none, set())
        quick, _ = pricing.quick_patterns(pi, none, set())
        for k, win in enumerate(windows.windows):
            # brute force: every set of the window's jobs that fits, in its best order
            best = 0.0
            for size in range(1, len(win.jobs) + 1):
                for jobs in combinations(win.jobs, size):
                    if sum(windows.d[i] for i in jobs) <= win.capacity:
                        best = max(best, pi[list(jobs)].sum() - windows.sequence(k, jobs)[0])
            assert exact[k] == pytest.approx(best, abs=1e-6)
            assert quick[k] >= best - 1e-6
            if patterns[k]:  # the search's pattern is one that reaches it
                assert pi[list(patterns[k])].sum() - windows.sequence(k, patterns[k])[0] == pytest.approx(
                    best, abs=1e-6
                )


@pytest.mark.parametrize("n, technicians, days, seed", [(16, 3, 2, 1), (16, 3, 2, 2), (24, 4, 3, 0)])
def test_best_bound_is_a_lower_bound_of_the_optimum_and_the_gap_comes_from_it(n, technicians, days, seed):
    problem, config = small_problem(n, technicians, days, seed)
    optimum = exact_optimum(problem, config.scheduler)
    assert optimum > 0  # late work: a bound of 0 would prove nothing

    # the column generation's bound alone (no CP-SAT bound mixed in): valid, and close
    patterns = solve_patterns(problem, config.scheduler, [greedy_placements(problem)], deadline=float("inf"))
    assert 0.9 * optimum <= patterns.bound <= optimum <= objective_value(problem, patterns.plan, config.scheduler)

    result = solve(problem, config)
    assert result.best_bound <= optimum <= result.objective
    assert result.objective == objective_value(problem, _placements(result), config.scheduler)
    assert result.gap == pytest.approx((result.objective - result.best_bound) / result.objective)
    assert result.status == ("OPTIMAL" if result.objective <= result.best_bound else "FEASIBLE")


def _placements(result) -> dict[str, tuple[str, int]]:
    """The plan in slots, back from the schedule frame (every test plan here starts on the grid)."""
    s = result.schedule
    t0 = s["planned_at"].iloc[0].ceil("15min")
    return {rid: (tech, int((start - t0) / np.timedelta64(15, "m")))
            for rid, tech, start in zip(s["request_id"], s["technician_id"], s["start"])}  # fmt: skip
