"""Earliest-due-date-first list scheduling: the baseline the CP-SAT plan is compared with (and its hint).

Jobs in order of (due slot, priority, request id); each goes to the qualified technician and free shift
window where it finishes earliest (ties: technician id), at the earliest gap that holds it. No look-ahead,
no priorities beyond tie-breaks: this is what a dispatcher with a due-date-sorted list does.
"""

from __future__ import annotations

import bisect

from smart_maintenance.maintenance.problem import Problem


def greedy_placements(problem: Problem, order: str = "edd") -> dict[str, tuple[str, int]]:
    """{request_id: (technician_id, start slot)} for the jobs that fit somewhere.

    order: 'edd' (the baseline: due date, then priority) or 'priority' (priority, then due date; only
    used as one more starting point for CP-SAT).
    """
    booked: dict[tuple[str, int], list[tuple[int, int]]] = {}
    placed = {}
    key = (lambda j: (j.due, j.priority, j.request_id)) if order == "edd" else (lambda j: (j.priority, j.due, j.request_id))
    for job in sorted(problem.jobs, key=key):
        best = None
        for o in job.options:
            s = earliest_fit(booked.get((o.tech, o.window), []), o.earliest, o.latest, job.duration)
            if s is not None and (best is None or (s + job.duration, o.tech) < (best[0] + job.duration, best[1].tech)):
                best = (s, o)
        if best is not None:
            s, o = best
            bisect.insort(booked.setdefault((o.tech, o.window), []), (s, s + job.duration))
            placed[job.request_id] = (o.tech, s)
    return placed


def earliest_fit(busy: list[tuple[int, int]], earliest: int, latest: int, duration: int) -> int | None:
    """First start in [earliest, latest] such that [start, start + duration) misses every busy interval."""
    s = earliest
    for a, b in busy:
        if s + duration <= a:
            break
        s = max(s, b)
    return s if s <= latest else None
