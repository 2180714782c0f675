"""Window patterns and their pricing: what the column generation of `patterns.py` is built on.

A *pattern* is the set of jobs one technician does in one free shift window. Every job of a window is
available from the window start, so a pattern costs its jobs' weighted tardiness in their best order,
back to back from the start (idle time never helps). `Windows.plan_cost` adds the jobs the previous plan
had in another window (a change that no start time in this window can avoid).

Pricing asks, for prices pi_j on the jobs: what is the largest *gain* (sum of its pi_j - its cost) of a
pattern of a window? Three answers, each an upper bound on that largest gain:
- `branch_and_bound`: exact. A depth-first search over sequences of distinct jobs from the window start;
  a job is only appended while its own gain is > 0 (what follows it only gets later), and the
  pseudo-schedule bound prunes. Past its node limit, it returns the pseudo-schedule bound instead.
- the *pseudo-schedule* DP over the window's slots: exact costs, but a job may repeat (a relaxation).
- the *late-first knapsack* (`Pricing.quick_patterns`): each job at most once, but only the jobs late
  wherever they go in the window (due before window start + duration) are charged, as if they went first
  in Smith's order (weight / duration descending), which gives them the least weighted completion time
  of any order; the other jobs cost 0 (a relaxation). Cheap: one DP over all windows at once (numpy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smart_maintenance.maintenance.config import SchedulerConfig
from smart_maintenance.maintenance.problem import Problem

EPS = 1e-6  # prices and gains below this are 0
NODE_LIMIT = 300  # search nodes per window and pricing round
EXACT_ORDER_MAX = 10  # jobs of one pattern ordered exactly (DP over subsets) up to this many, else heuristically


@dataclass
class Window:
    tech: str
    index: int
    start: int
    capacity: int
    jobs: list[int]  # the jobs that have this window as an option


class Windows:
    """The problem per window: job weights, durations, due slots and unscheduled costs, as lists; the
    windows that are some job's option, by start; pattern costs (kept, they are asked for again and again)."""

    def __init__(self, problem: Problem, cfg: SchedulerConfig):
        jobs = problem.jobs
        self.problem = problem
        self.w = [cfg.weight_tardiness * j.weight for j in jobs]
        self.d = [j.duration for j in jobs]
        self.due = [j.due for j in jobs]
        self.unscheduled = [cfg.weight_tardiness * j.weight * max(0, problem.horizon + j.duration - j.due)
                            + cfg.weight_unscheduled * j.duration + cfg.weight_change * (j.request_id in problem.previous)
                            for j in jobs]  # fmt: skip
        # a job planned in another window by the previous plan certainly changes (whether it keeps its
        # start in the same window is left to the timing step)
        self.previous = [problem.previous.get(j.request_id) for j in jobs]
        self.change = cfg.weight_change
        self._costs: dict[tuple[int, frozenset], int] = {}
        members: dict[tuple[str, int], list[int]] = {}
        for i, job in enumerate(jobs):
            for o in job.options:
                members.setdefault((o.tech, o.window), []).append(i)
        self.windows = []
        for (tech, w), idx in sorted(members.items(), key=lambda kv: (problem.windows[kv[0][0]][kv[0][1]], kv[0])):
            a, b = problem.windows[tech][w]
            self.windows.append(Window(tech, w, a, b - a, idx))

    def plan_cost(self, k: int, jobs: tuple[int, ...]) -> int:
        """A pattern's cost in a plan: tardiness in the best order, plus the jobs the previous plan had
        in another window."""
        key = (k, frozenset(jobs))
        if key not in self._costs:
            self._costs[key] = self._plan_cost(k, jobs)
        return self._costs[key]

    def _plan_cost(self, k: int, jobs: tuple[int, ...]) -> int:
        win = self.windows[k]
        moved = sum(p is not None and not (p[0] == win.tech and win.start <= p[1] < win.start + win.capacity)
                    for p in (self.previous[i] for i in jobs))  # fmt: skip
        return self.sequence(k, jobs)[0] + self.change * moved

    def sequence(self, k: int, jobs: tuple[int, ...]) -> tuple[int, list[int]]:
        """(tardiness cost, order) of a pattern: exact up to EXACT_ORDER_MAX jobs (DP over subsets)."""
        a = self.windows[k].start
        js = sorted(jobs, key=lambda i: (self.due[i], -self.w[i], i))
        if len(js) > EXACT_ORDER_MAX:
            return _improve_order(js, a, self.d, self.due, self.w)
        n = len(js)
        full = (1 << n) - 1
        f, last, length = [0] + [math.inf] * full, [0] * (full + 1), [0] * (full + 1)
        for m in range(1, full + 1):
            low = m & -m
            length[m] = length[m ^ low] + self.d[js[low.bit_length() - 1]]
            end = a + length[m]
            for b in range(n):
                if m >> b & 1:
                    i = js[b]
                    v = f[m ^ (1 << b)] + self.w[i] * max(0, end - self.due[i])
                    if v < f[m]:
                        f[m], last[m] = v, b
        order, m = [], full
        while m:
            order.append(js[last[m]])
            m ^= 1 << last[m]
        return int(f[full]), order[::-1]


def _improve_order(js: list[int], a: int, d, due, w) -> tuple[int, list[int]]:
    """Earliest due date first, then adjacent swaps while they help (crowded windows only)."""

    def cost(order):
        t, total = a, 0
        for i in order:
            t += d[i]
            total += w[i] * max(0, t - due[i])
        return total

    order, best, improved = list(js), cost(js), True
    while improved:
        improved = False
        for x in range(len(order) - 1):
            order[x], order[x + 1] = order[x + 1], order[x]
            v = cost(order)
            if v < best:
                best, improved = v, True
            else:
                order[x], order[x + 1] = order[x + 1], order[x]
    return best, order


class Pricing:
    """The pricing problem of every window: its best pattern at given prices."""

    def __init__(self, inst: Windows):
        self.inst = inst
        n_win = len(inst.windows)
        self.cap = np.array([win.capacity for win in inst.windows], dtype=np.int64)
        self.width = int(self.cap.max()) + 1 if n_win else 1
        start = np.array([win.start for win in inst.windows], dtype=np.int64)
        self.d = np.array(inst.d, dtype=np.int64)
        self.w = np.array(inst.w, dtype=float)
        self.due = np.array(inst.due, dtype=np.int64)
        # (window, job) pairs grouped by window, for the pseudo-schedule DP over all windows at once
        pairs = sorted((k, i) for k, win in enumerate(inst.windows) for i in win.jobs)
        self.pair_win = np.array([k for k, _ in pairs], dtype=np.int64)
        self.pair_job = np.array([i for _, i in pairs], dtype=np.int64)
        self.pair_rel = self.due[self.pair_job] - start[self.pair_win]  # due, in slots from the window start
        # the knapsack: one step per job and kind, the late steps first in Smith's order, so every window
        # sees its late jobs (late wherever they go in it) in that order, each completing at start + used
        late: dict[int, list[int]] = {}
        other: dict[int, list[int]] = {}
        for k, win in enumerate(inst.windows):
            for i in win.jobs:
                (late if inst.due[i] < win.start + inst.d[i] else other).setdefault(i, []).append(k)
        smith = sorted(late, key=lambda i: (-inst.w[i] / inst.d[i], i))
        self.steps = [(i, np.array(late[i]), inst.w[i] * (inst.due[i] - start[late[i]])) for i in smith]
        self.steps += [(i, np.array(other[i]), None) for i in sorted(other)]
        self.steps_of: list[list[tuple[int, int]]] = [[] for _ in range(n_win)]
        for step, (_, rows, _) in enumerate(self.steps):
            for pos, k in enumerate(rows):
                self.steps_of[k].append((step, pos))
        self.slots = np.arange(self.width)
        self.fits = self.slots[None, :] <= self.cap[:, None]

    def quick_patterns(self, pi: np.ndarray, banned: np.ndarray, skip: set[int]) -> tuple[np.ndarray, list]:
        """Like `best_patterns`, by a knapsack that charges only the late jobs, as if they went first in
        Smith's order (weight / duration descending: the order of least weighted completion time), the
        others 0: an upper bound on every pattern's gain, with each job once (the smaller of it and the
        pseudo-schedule bound is `upper`), and its pattern as the new column. Cheap: all windows at once."""
        width, n_win = self.width, len(self.cap)
        best = np.full((n_win, width), -np.inf)
        best[:, 0] = 0.0
        taken: list[np.ndarray | None] = []
        for i, rows, due_term in self.steps:
            taken.append(None)
            if pi[i] <= EPS or banned[i]:
                continue
            d = self.d[i]
            old = best[rows]
            gain = pi[i] if due_term is None else (pi[i] + due_term)[:, None] - self.w[i] * self.slots[None, d:]
            cand = old[:, : width - d] + gain
            better = (cand > old[:, d:]) & self.fits[rows, d:]
            if better.any():
                old[:, d:] = np.where(better, cand, old[:, d:])
                best[rows] = old
                taken[-1] = better
        used = best.argmax(axis=1)
        upper = np.minimum(best[np.arange(n_win), used], self._pseudo(pi, banned)[:, 0])
        patterns = [()] * n_win
        for k in range(n_win):
            if k in skip or upper[k] <= EPS:
                continue
            jobs, cc = [], int(used[k])
            for step, pos in reversed(self.steps_of[k]):
                i = self.steps[step][0]
                if cc >= self.d[i] and taken[step] is not None and taken[step][pos, cc - self.d[i]]:
                    jobs.append(i)
                    cc -= self.d[i]
            patterns[k] = tuple(jobs)
        return upper, patterns

    def best_patterns(self, pi: np.ndarray, banned: np.ndarray, skip: set[int]) -> tuple[np.ndarray, list]:
        """Per window (but those in `skip`, and without the `banned` jobs): upper[k] >= the gain of every
        pattern (the best gain when the search finished, else the pseudo-schedule bound) and the jobs
        of the best pattern found, in their order."""
        future = self._pseudo(pi, banned)
        upper, patterns = np.zeros(len(self.cap)), [()] * len(self.cap)
        for k, win in enumerate(self.inst.windows):
            if k in skip:
                continue
            js = np.array([i for i in win.jobs if pi[i] > EPS and not banned[i]], dtype=np.int64)
            if len(js) == 0:
                continue
            gain, order, finished = branch_and_bound(self.d[js], self.w[js], self.due[js] - win.start, pi[js],
                                                      win.capacity, future[k])  # fmt: skip
            upper[k] = gain if finished else max(gain, future[k, 0])
            patterns[k] = tuple(int(js[x]) for x in order)
        return upper, patterns

    def _pseudo(self, pi: np.ndarray, banned: np.ndarray) -> np.ndarray:
        """future[k, t] = the largest gain of a sequence in window k starting at slot t, a job allowed to
        repeat (pseudo-schedule, dynamic programming backwards over the slots): an upper bound on what
        any pattern can still gain from t on."""
        active = (pi[self.pair_job] > EPS) & ~banned[self.pair_job]
        win, job, rel = self.pair_win[active], self.pair_job[active], self.pair_rel[active]
        d, w, p, cap = self.d[job], self.w[job], pi[job], self.cap[win]
        n_win = len(self.cap)
        future = np.zeros((n_win, self.width + 1))
        if len(win) == 0:
            return future
        has = np.bincount(win, minlength=n_win) > 0
        first = np.searchsorted(win, np.flatnonzero(has))  # pairs are grouped by window
        for t in range(self.width - 1, -1, -1):
            end = t + d
            ok = end <= cap
            gain = np.where(ok, future[win, np.minimum(end, self.width)] + p - w * np.maximum(0, end - rel), -np.inf)
            future[:, t] = future[:, t + 1]
            future[has, t] = np.maximum(future[has, t], np.maximum.reduceat(gain, first))
        return future


def branch_and_bound(d, w, due, pi, capacity, future) -> tuple[float, list[int], bool]:
    """Max over sequences of distinct jobs in `capacity` slots (from 0, back to back) of the sum of
    pi - w * tardiness. Appending a job whose own gain is <= 0 never helps (it only delays what follows),
    so only positive gains branch; `future` bounds the rest. Returns (gain, order, finished)."""
    best_gain, best_order, nodes = 0.0, [], 0
    seen: dict[tuple[int, bytes], float] = {}
    used = np.zeros(len(d), dtype=bool)
    order: list[int] = []

    def search(t: int, gain: float) -> None:
        nonlocal best_gain, best_order, nodes
        nodes += 1
        if gain > best_gain:
            best_gain, best_order = gain, list(order)
        if nodes > NODE_LIMIT:
            return
        end = t + d
        own = pi - w * np.maximum(0, end - due)
        ok = (end <= capacity) & ~used & (own > EPS)
        bound = np.where(ok, gain + own + future[np.minimum(end, capacity)], -np.inf)
        for x in np.argsort(-bound):
            if bound[x] <= best_gain + EPS:
                break
            used[x] = True
            order.append(int(x))
            key = (int(end[x]), used.tobytes())
            if seen.get(key, -math.inf) < gain + own[x]:
                seen[key] = gain + own[x]
                search(int(end[x]), gain + own[x])
            order.pop()
            used[x] = False

    search(0, 0.0)
    return best_gain, best_order, nodes <= NODE_LIMIT
