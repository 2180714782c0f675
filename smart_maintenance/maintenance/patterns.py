"""The scheduler's proven lower bound, and a near-optimal plan, by column generation over window patterns.

A plan of `problem.py` is exactly: at most one pattern (pattern_pricing.py: the jobs of one technician
in one free shift window, in their best order) per window, every job in one pattern or unscheduled (at
its cost U_j in the objective).

**Lower bound.** Relax "every job exactly once" with prices pi_j (Lagrange multipliers). For any prices,

    L(pi) = sum_j [pi_j + min(0, U_j - pi_j)] - sum_windows max(0, best_w(pi))

is <= the objective of every plan, if best_w(pi) >= the largest gain (sum of its pi_j - its cost) of a
pattern of window w. Proof: a plan covers every job once, so its objective equals objective -
sum_j pi_j (1 - [job j covered]); that splits into one term per unscheduled job (U_j - pi_j) and one per
window (its pattern's cost - its sum of pi_j, or 0 if empty), each >= its minimum. The objective's terms
for moving a job from its slot in the previous plan are >= 0 for scheduled jobs, so leaving them out
keeps the bound valid (for unscheduled jobs, where they are certain, U_j counts them). best_w is the
pricing's upper bound (pattern_pricing.py: the late-first knapsack while the prices settle, then the
exact search). The prices are the duals of the linear relaxation of the master problem over the
patterns generated so far (GLOP), smoothed towards the best prices so far (Wentges); each window's best
pattern is a new column. The bound holds at every iteration: stopping early (time limit) only weakens it.

**Plan.** The master's linear relaxation is then dived: patterns at 1 are fixed, else the largest,
prices recomputed, until few jobs are left; those go into the time the fixed patterns leave free, by
column generation on that residual problem and the best combination of its patterns (CP-SAT). A local
search (move or swap jobs between windows) ends it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from smart_maintenance.maintenance.config import SchedulerConfig
from smart_maintenance.maintenance.greedy import earliest_fit
from smart_maintenance.maintenance.pattern_pricing import EPS, Pricing, Windows
from smart_maintenance.maintenance.problem import Option, Problem

if TYPE_CHECKING:  # ortools is imported where a model is solved, not when Dagster loads the assets
    from ortools.linear_solver import pywraplp

Placements = dict[str, tuple[str, int]]
FINISH_SHARE = 0.15  # of the time, kept for the residual problem
LOCAL_SEARCH_SECONDS = 0.5  # after the deadline, at most
BOUND_TOLERANCE = 1e-3  # stop the bound's column generation this close to the LP
EXACT_FROM = 0.97  # price exactly once the bound is this close to the LP


@dataclass
class PatternResult:
    bound: int  # a valid lower bound of the objective (see the module docstring), rounded up to an integer
    plan: Placements  # the dived plan
    lp_value: float  # the master's linear relaxation when the bound was proven
    iterations: int
    columns: int
    stats: dict = field(default_factory=dict)


class _Master:
    """The restricted master LP over the generated patterns (GLOP): job rows == 1, window rows <= 1.

    Fixing a pattern (the dive) sets its jobs' rows and its window's row to 0, which excludes every
    pattern in conflict with it. GLOP re-reads the whole model at every solve, so the model is rebuilt
    without the patterns of largest reduced cost when it grows past `max_columns`."""

    def __init__(self, inst: Windows, max_columns: int):
        self.inst = inst
        self.max_columns = max_columns
        self.patterns: list[tuple[int, tuple[int, ...]]] = []  # every pattern generated: (window, jobs)
        self.ids: dict[tuple[int, frozenset], int] = {}
        self.costs: list[int] = []
        self.fixed: list[int] = []
        self.fixed_jobs = np.zeros(len(inst.d), dtype=bool)
        self.fixed_windows: set[int] = set()
        self.pi = self.mu = None
        self._build([])

    def _build(self, keep: list[int]) -> None:
        from ortools.linear_solver import pywraplp

        s = self.solver = pywraplp.Solver.CreateSolver("GLOP")
        s.SetSolverSpecificParametersAsString("use_preprocessing: false use_dual_simplex: false")
        self.objective = s.Objective()
        self.objective.SetMinimization()
        self.job_rows = [s.Constraint(0, 0) if f else s.Constraint(1, 1) for f in self.fixed_jobs]
        self.window_rows = [s.Constraint(-s.infinity(), 0 if k in self.fixed_windows else 1)
                            for k in range(len(self.inst.windows))]  # fmt: skip
        for i, row in enumerate(self.job_rows):
            u = s.NumVar(0, 1, "")
            row.SetCoefficient(u, 1)
            self.objective.SetCoefficient(u, self.inst.unscheduled[i])
        self.var: dict[int, pywraplp.Variable] = {}
        for c in keep:
            self._column(c)

    def _column(self, c: int) -> None:
        k, jobs = self.patterns[c]
        var = self.var[c] = self.solver.NumVar(0, 1, "")
        for i in jobs:
            self.job_rows[i].SetCoefficient(var, 1)
        self.window_rows[k].SetCoefficient(var, 1)
        self.objective.SetCoefficient(var, self.costs[c])

    def add(self, k: int, jobs: tuple[int, ...]) -> int | None:
        """Add the pattern as a column (if it is not in the model); returns its id."""
        if not jobs:
            return None
        key = (k, frozenset(jobs))
        c = self.ids.get(key)
        if c is None:
            c = self.ids[key] = len(self.patterns)
            self.patterns.append((k, tuple(jobs)))
            self.costs.append(self.inst.plan_cost(k, jobs))
        if c not in self.var:
            self._column(c)
        return c

    def free(self, c: int) -> bool:
        k, jobs = self.patterns[c]
        return k not in self.fixed_windows and not self.fixed_jobs[list(jobs)].any()

    def fix(self, c: int) -> bool:
        """Fix pattern c (if nothing fixed conflicts with it): its rows go to 0."""
        if not self.free(c):
            return False
        k, jobs = self.patterns[c]
        self.fixed.append(c)
        self.fixed_windows.add(k)
        self.window_rows[k].SetUb(0)
        for i in jobs:
            self.fixed_jobs[i] = True
            self.job_rows[i].SetBounds(0, 0)
        return True

    def solve(self) -> float | None:
        """The LP value (the duals go to self.pi and self.mu), or None."""
        from ortools.linear_solver import pywraplp

        if len(self.var) > self.max_columns:
            self._compact()
        if self.solver.Solve() != pywraplp.Solver.OPTIMAL:
            return None
        self.pi = np.array([r.dual_value() for r in self.job_rows])
        self.mu = np.array([r.dual_value() for r in self.window_rows])
        return self.objective.Value()

    def _compact(self) -> None:
        """Rebuild with the half of the free columns of smallest reduced cost at the last duals."""
        free = [c for c in self.var if self.free(c)]
        if self.pi is not None:
            free.sort(
                key=lambda c: self.costs[c] - self.pi[list(self.patterns[c][1])].sum() - self.mu[self.patterns[c][0]]
            )
        self._build(free[: self.max_columns // 2])

    def values(self) -> dict[int, float]:
        """LP values > 0 of the free columns."""
        out = {c: var.solution_value() for c, var in self.var.items()}
        return {c: v for c, v in out.items() if v > EPS and self.free(c)}

    def add_improving(self, patterns: list, value: float) -> int:
        """Add the patterns of negative reduced cost at the LP's duals; returns how many."""
        tol, added = EPS * max(1.0, abs(value)), 0
        for k, jobs in enumerate(patterns):
            if (
                jobs
                and k not in self.fixed_windows
                and self.ids.get((k, frozenset(jobs))) not in self.var
                and self.pi[list(jobs)].sum() + self.mu[k] - self.inst.plan_cost(k, jobs) > tol
            ):
                self.add(k, jobs)
                added += 1
        return added


def solve_patterns(problem: Problem, cfg: SchedulerConfig, hints: list[Placements], deadline: float,
                   bound_share: float = 0.45, fix_per_dive: int = 2, rounds_per_dive: int = 3,
                   finish_jobs: int = 50, smoothing: float = 0.5, max_columns: int = 4000) -> PatternResult:  # fmt: skip
    """Lower bound and plan by `deadline` (a time.perf_counter value): `bound_share` of the time for the
    bound, the rest for the dive and the residual problem. The hints' patterns seed the master."""
    started = time.perf_counter()
    inst = Windows(problem, cfg)
    pricing, master = Pricing(inst), _Master(inst, max_columns)
    for plan in hints:
        for k, jobs in _patterns_of(inst, plan).items():
            master.add(k, jobs)
    unscheduled = np.array(inst.unscheduled, dtype=float)
    none = np.zeros(len(inst.d), dtype=bool)

    # 1. column generation: the bound, at prices smoothed towards the best so far (Wentges)
    # (the quick knapsack first; the exact search once it finds nothing more, or is close)
    bound, center, iterations, exact, lp_value = -math.inf, None, 0, False, math.nan
    while time.perf_counter() < started + bound_share * (deadline - started):
        value = master.solve()
        if value is None:
            break
        iterations += 1
        added = 0
        for alpha in (smoothing, 0.0) if center is not None and smoothing > 0 else (0.0,):
            pi = master.pi if alpha == 0 else alpha * center + (1 - alpha) * master.pi
            price = pricing.best_patterns if exact else pricing.quick_patterns
            upper, patterns = price(pi, none, set())
            lagrange = float(np.sum(pi + np.minimum(0.0, unscheduled - pi)) - np.maximum(0.0, upper).sum())
            if lagrange > bound:
                bound, center = lagrange, pi.copy()
            added = master.add_improving(patterns, value)
            if added:
                break
        lp_value = value
        if value - bound <= BOUND_TOLERANCE * max(1.0, value):
            break
        if added == 0 or bound > EXACT_FROM * value:
            if exact and added == 0:
                break
            exact = True
    bound_seconds = time.perf_counter() - started

    # 2. the dive, until few jobs are left for the residual problem
    dives = 0
    dive_deadline = deadline - FINISH_SHARE * (deadline - started)
    dive_started = time.perf_counter()
    while (now := time.perf_counter()) < dive_deadline:
        left = len(inst.d) - int(master.fixed_jobs.sum())
        if left <= finish_jobs:
            break
        fix_now = fix_per_dive
        if dives > 1:  # fix more patterns per step if the time left would not reach the finish at this pace
            steps_left = max(1.0, (dive_deadline - now) / ((now - dive_started) / dives))
            per_pattern = (len(inst.d) - left) / max(1, len(master.fixed))
            fix_now = max(fix_per_dive, math.ceil((left - finish_jobs) / per_pattern / steps_left))
        values = _generate(pricing, master, dive_deadline, rounds_per_dive if dives else 50)
        if not values:
            break
        ranked = sorted(values, key=lambda c: -values[c])
        for c in [c for c in ranked if values[c] > 1 - EPS] or ranked[:fix_now]:
            master.fix(c)
        dives += 1
    plan = _plan(inst, master, master.fixed)
    if not master.fixed_jobs.all() and deadline - time.perf_counter() > 0.05:
        plan = _finish(inst, master, plan, cfg, deadline)
    plan = _local_search(inst, plan, deadline + LOCAL_SEARCH_SECONDS)
    # the objective is an integer: round up what the float arithmetic proves (with a margin for its
    # rounding and for gains below EPS the searches leave out)
    margin = 1e-7 * abs(bound) + EPS * (1 + sum(win.capacity for win in inst.windows))
    safe = 0 if bound == -math.inf else max(0, math.ceil(bound - margin))
    return PatternResult(safe, plan, lp_value, iterations, len(master.patterns),
                         {"bound_seconds": round(bound_seconds, 3), "dive_steps": dives})  # fmt: skip


def _generate(pricing: Pricing, master: _Master, deadline: float, max_rounds: int, exact: bool = False
              ) -> dict[int, float] | None:  # fmt: skip
    """Column generation on what the fixed patterns leave; returns the LP values of the free columns."""
    value = None
    price = pricing.best_patterns if exact else pricing.quick_patterns
    for rounds in range(max_rounds + 1):
        value = master.solve()  # also after the last round's columns: values must belong to this model
        if value is None or rounds == max_rounds or time.perf_counter() >= deadline:
            break
        _, patterns = price(master.pi, master.fixed_jobs, master.fixed_windows)
        if master.add_improving(patterns, value) == 0:
            break
    return None if value is None else master.values()


def _local_search(inst: Windows, plan: Placements, deadline: float) -> Placements:
    """Move a job to another window, or swap two jobs of different windows, while that lowers the sum of
    the windows' exact costs (and unscheduled costs); each window's jobs in their best order."""
    index = {(win.tech, win.index): k for k, win in enumerate(inst.windows)}
    options = [[index[(o.tech, o.window)] for o in job.options] for job in inst.problem.jobs]
    where = [-1] * len(inst.d)
    for k, jobs in _patterns_of(inst, plan).items():
        for i in jobs:
            where[i] = k
    members: list[set[int]] = [set() for _ in inst.windows]
    for i, k in enumerate(where):
        if k >= 0:
            members[k].add(i)
    load = [sum(inst.d[i] for i in m) for m in members]
    cap = [win.capacity for win in inst.windows]

    def cost(k: int, jobs: set[int]) -> float:
        if k < 0:
            return sum(inst.unscheduled[i] for i in jobs)
        return inst.plan_cost(k, tuple(jobs)) if jobs else 0

    def fits(k: int, out: int, into: int) -> bool:
        return k < 0 or load[k] - (inst.d[out] if out >= 0 else 0) + inst.d[into] <= cap[k]

    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for i in range(len(inst.d)):
            a = where[i]
            a_set = members[a] if a >= 0 else {i}
            a_now, a_without = cost(a, a_set), cost(a, a_set - {i})
            best, move = -EPS, None
            for b in options[i]:
                if b == a:
                    continue
                b_now = cost(b, members[b])
                if fits(b, -1, i):
                    gain = a_without + cost(b, members[b] | {i}) - a_now - b_now
                    if gain < best:
                        best, move = gain, (b, -1)
                for x in members[b]:
                    if fits(b, x, i) and (a < 0 or (a in options[x] and fits(a, i, x))):
                        into_a = cost(a, (a_set - {i}) | {x}) if a >= 0 else inst.unscheduled[x]
                        gain = into_a + cost(b, (members[b] - {x}) | {i}) - a_now - b_now
                        if gain < best:
                            best, move = gain, (b, x)
            if move is None:
                continue
            b, x = move
            improved = True
            for job, frm, to in ((i, a, b), (x, b, a)) if x >= 0 else ((i, a, b),):
                if frm >= 0:
                    members[frm].discard(job)
                    load[frm] -= inst.d[job]
                if to >= 0:
                    members[to].add(job)
                    load[to] += inst.d[job]
                where[job] = to
    out: Placements = {}
    for k, jobs in enumerate(members):
        win, t = inst.windows[k], inst.windows[k].start
        for i in inst.sequence(k, tuple(jobs))[1] if jobs else []:
            out[inst.problem.jobs[i].request_id] = (win.tech, t)
            t += inst.d[i]
    return out


def _patterns_of(inst: Windows, plan: Placements) -> dict[int, tuple[int, ...]]:
    """The patterns of a plan (of this problem or an earlier one: patterns that no longer fit are left out)."""
    index = {(win.tech, win.index): k for k, win in enumerate(inst.windows)}
    out: dict[int, list[int]] = {}
    for i, job in enumerate(inst.problem.jobs):
        if job.request_id in plan:
            tech, s = plan[job.request_id]
            o = next((o for o in job.options if o.tech == tech and o.earliest <= s <= o.latest), None)
            if o is not None:
                out.setdefault(index[(o.tech, o.window)], []).append(i)
    return {k: tuple(v) for k, v in out.items() if sum(inst.d[i] for i in v) <= inst.windows[k].capacity}


def _plan(inst: Windows, master: _Master, chosen: list[int]) -> Placements:
    """Placements of the chosen patterns (best order, back to back), then the jobs left over, greedily."""
    problem, plan = inst.problem, {}
    booked: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for c in chosen:
        k, jobs = master.patterns[c]
        win = inst.windows[k]
        t = win.start
        for i in inst.sequence(k, jobs)[1]:
            plan[problem.jobs[i].request_id] = (win.tech, t)
            booked.setdefault((win.tech, win.index), []).append((t, t + inst.d[i]))
            t += inst.d[i]
    for job in problem.jobs:
        if job.request_id in plan:
            continue
        best: tuple[int, Option] | None = None
        for o in job.options:
            s = earliest_fit(sorted(booked.get((o.tech, o.window), [])), o.earliest, o.latest, job.duration)
            if s is not None and (best is None or s < best[0]):
                best = (s, o)
        if best is not None:
            s, o = best
            booked.setdefault((o.tech, o.window), []).append((s, s + job.duration))
            plan[job.request_id] = (o.tech, s)
    return plan


def _finish(inst: Windows, master: _Master, plan: Placements, cfg: SchedulerConfig, deadline: float) -> Placements:
    """The jobs outside the fixed patterns, in the time those patterns leave free: column generation on
    that smaller problem, then the best combination of its patterns (CP-SAT), from the greedy placement
    in `plan`. Returns the better of the two plans."""
    started = time.perf_counter()
    residual = _residual(inst, master)
    sub = Windows(residual, cfg)
    sub_master = _Master(sub, max_columns=10**9)
    start_plan = {job.request_id: plan[job.request_id] for job in residual.jobs if job.request_id in plan}
    hint = [sub_master.add(k, jobs) for k, jobs in _patterns_of(sub, start_plan).items()]
    pricing = Pricing(sub)
    _generate(pricing, sub_master, started + 0.3 * (deadline - started), max_rounds=200)
    _generate(pricing, sub_master, started + 0.5 * (deadline - started), max_rounds=200, exact=True)
    chosen = _combine(sub_master, hint, cfg, deadline - time.perf_counter())
    finished = {rid: placed for rid, placed in plan.items() if rid not in start_plan}
    finished.update(_plan(sub, sub_master, chosen))
    return finished if _objective(inst, finished) <= _objective(inst, plan) else plan


def _residual(inst: Windows, master: _Master) -> Problem:
    """The problem the fixed patterns leave: the other jobs, and every window without the time the fixed
    patterns take (at its start)."""
    problem = inst.problem
    taken = {}
    for c in master.fixed:
        k, jobs = master.patterns[c]
        taken[(inst.windows[k].tech, inst.windows[k].index)] = sum(inst.d[i] for i in jobs)
    windows: dict[str, list[tuple[int, int]]] = {}
    piece: dict[tuple[str, int], int] = {}
    for tech, spans in problem.windows.items():
        windows[tech] = []
        for w, (a, b) in enumerate(spans):
            a += taken.get((tech, w), 0)
            if b > a:
                piece[(tech, w)] = len(windows[tech])
                windows[tech].append((a, b))
    jobs = []
    for i, job in enumerate(problem.jobs):
        if master.fixed_jobs[i]:
            continue
        options = []
        for o in job.options:
            if (o.tech, o.window) in piece:
                a, b = windows[o.tech][piece[(o.tech, o.window)]]
                if b - a >= job.duration:
                    options.append(Option(o.tech, piece[(o.tech, o.window)], a, b - job.duration))
        jobs.append(replace(job, options=options))
    return replace(problem, windows=windows, jobs=jobs)


def _combine(master: _Master, hint: list[int], cfg: SchedulerConfig, seconds: float) -> list[int]:
    """The best set of the master's patterns (at most one per window, each job at most once), by CP-SAT."""
    from ortools.sat.python import cp_model

    inst = master.inst
    m = cp_model.CpModel()
    use = [m.new_bool_var("") for _ in master.patterns]
    cover: list[list] = [[] for _ in inst.d]
    per_window: dict[int, list] = {}
    hinted = set(hint)
    for c, (k, jobs) in enumerate(master.patterns):
        per_window.setdefault(k, []).append(use[c])
        for i in jobs:
            cover[i].append(use[c])
        m.add_hint(use[c], c in hinted)
    for xs in list(per_window.values()) + cover:
        m.add_at_most_one(xs)
    # pattern costs + the unscheduled cost of every job no pattern covers (a constant left out)
    m.minimize(sum((master.costs[c] - sum(inst.unscheduled[i] for i in jobs)) * use[c]
                   for c, (_, jobs) in enumerate(master.patterns)))  # fmt: skip
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, seconds)
    solver.parameters.num_workers = cfg.num_workers
    solver.parameters.random_seed = cfg.random_seed
    if solver.solve(m) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return [c for c in hint if c is not None]
    return [c for c, x in enumerate(use) if solver.boolean_value(x)]


def _objective(inst: Windows, plan: Placements) -> float:
    """The tardiness and unscheduled terms of the objective (the same for both plans `_finish` compares)."""
    total = 0.0
    for i, job in enumerate(inst.problem.jobs):
        if job.request_id in plan:
            total += inst.w[i] * max(0, plan[job.request_id][1] + job.duration - job.due)
        else:
            total += inst.unscheduled[i]
    return total
