"""Scheduling quality on generated instances: CP-SAT against the greedy earliest-due-date baseline.

Instances (`generate_instance`) look like a plant's approved backlog on a Monday morning:
- 15 technicians on three sites (Europe/Berlin early and late shifts, America/Chicago day shift,
  Asia/Kolkata day shift), Mon-Fri, two of them also on Saturdays; mechanical technicians cover 2-4 of
  the five mechanical equipment types, electricians the motors, two do both; compressors and motors have
  few specialists (skill bottlenecks).
- requests: 20 % urgent corrective (priority 1-2, due in 8-72 h, 2-8 h of work), 50 % preventive
  (priority 2-3, due in 1 day to 0.6 x `days`, 1.5-6 h), 30 % inspections (priority 4, due in 12 h to
  0.4 x `days`, 0.5-2 h); 5 % of them are already overdue (the weekend's backlog, due up to 16 h ago).
- load: ~3.3 h of work per request against ~1,000 technician-hours in 10 days (~600 before most due
  dates), so 50 requests is a light week (little tardiness), 200 is the overload the evaluation is about
  (the work due within six days exceeds the qualified technicians' hours, skills concentrate it further:
  tardiness is unavoidable and how it is spread over priorities is what the planner decides), and 500 is
  a heavy overload where part of the work cannot fit in the horizon at all.
The horizon is `days` long; unscheduled work counts as done at the horizon end in the tardiness figures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np
import pandas as pd

from smart_maintenance.maintenance.config import MaintenanceConfig
from smart_maintenance.maintenance.plan_checks import check_plan
from smart_maintenance.maintenance.problem import build_problem
from smart_maintenance.maintenance.scheduler import solve

NOW = pd.Timestamp("2026-03-02 05:00", tz="UTC")  # a Monday morning, before the first shift in Europe
MECHANICAL_TYPES = ("pump", "compressor", "fan", "conveyor", "gearbox")
SITES = (("Europe/Berlin", "06:00", "14:00"), ("Europe/Berlin", "14:00", "22:00"),
         ("America/Chicago", "07:00", "15:00"), ("Asia/Kolkata", "09:00", "17:00"))  # fmt: skip


@dataclass(frozen=True)
class Instance:
    requests: pd.DataFrame
    technicians: pd.DataFrame
    now: pd.Timestamp
    days: int


def generate_instance(n_requests: int, n_technicians: int = 15, days: int = 10, seed: int = 0) -> Instance:
    rng = np.random.default_rng(seed)
    techs = []
    for i in range(n_technicians):
        tz, start, end = SITES[i % len(SITES)]
        role = ("electrical", "mechanical", "mechanical", "both")[i % 4] if i % 7 else "mechanical"
        skills = set()
        if role in ("mechanical", "both"):
            pool = [t for t in MECHANICAL_TYPES if t != "compressor" or i % 5 == 0]
            skills |= {"mechanical", *rng.choice(pool, size=min(len(pool), int(rng.integers(2, 5))), replace=False)}
        if role in ("electrical", "both"):
            skills |= {"electrical", "motor"}
        workdays = "mon;tue;wed;thu;fri;sat" if i in (3, 10) else "mon;tue;wed;thu;fri"
        techs.append([f"T{i + 1:02d}", f"Technician {i + 1}", ";".join(sorted(skills)), start, end, tz, workdays])
    technicians = pd.DataFrame(techs, columns=["technician_id", "name", "skills", "shift_start", "shift_end",
                                               "timezone", "workdays"])  # fmt: skip

    config = MaintenanceConfig()
    rows = []
    hours = pd.Timedelta(hours=1)
    for k in range(n_requests):
        equipment_type = str(rng.choice(MECHANICAL_TYPES + ("motor",), p=[0.25, 0.1, 0.15, 0.15, 0.15, 0.2]))
        kind = str(rng.choice(("urgent_corrective", "preventive", "inspection"), p=[0.2, 0.5, 0.3]))
        if kind == "urgent_corrective":
            priority, due, duration = int(rng.integers(1, 3)), rng.uniform(8, 72), rng.uniform(2, 8)
        elif kind == "preventive":
            priority, due, duration = int(rng.integers(2, 4)), rng.uniform(24, 24 * days * 0.6), rng.uniform(1.5, 6)
        else:
            priority, due, duration = 4, rng.uniform(12, 24 * days * 0.4), rng.uniform(0.5, 2)
        if rng.random() < 0.05:
            due = -rng.uniform(0, 16)
        work = config.requests.work_type(equipment_type, kind)
        rows.append({
            "request_id": f"R{k:04d}", "equipment_id": f"{equipment_type}-{int(rng.integers(1, 60)):02d}",
            "status": "approved", "priority": priority, "due_by": (NOW + due * hours).floor("min"),
            "request_type": kind, "equipment_type": equipment_type,
            "estimated_duration_hours": round(duration * 4) / 4, "required_skills": ";".join(work.skills),
        })  # fmt: skip
    return Instance(pd.DataFrame(rows), technicians, NOW, days)


def evaluate_scheduling(sizes: tuple[int, ...] = (50, 200, 500), seed: int = 0,
                        config: MaintenanceConfig | None = None) -> dict:
    """{size: {cp_sat: {...}, greedy: {...}, improvement_pct}} on one generated instance per size."""
    config = config or MaintenanceConfig()
    results = {}
    for n in sizes:
        inst = generate_instance(n, days=10, seed=seed)
        cfg = replace(config, scheduler=replace(config.scheduler, horizon=timedelta(days=inst.days)))
        problem = build_problem(inst.requests, inst.technicians, inst.now, cfg)
        row = {}
        for method in ("greedy", "cp_sat"):
            res = solve(problem, cfg, method)
            passed, meta = check_plan(res.schedule, inst.requests, inst.technicians, cfg, now=inst.now)
            row[method] = {
                "status": res.status, "method": res.method,
                "weighted_tardiness_hours": res.metrics["weighted_tardiness_hours"],
                "weighted_tardiness_scheduled_hours": res.metrics["weighted_tardiness_scheduled_hours"],
                "scheduled": res.metrics["scheduled"], "late": res.metrics["late"],
                "unscheduled": res.metrics["unscheduled"], "violations": meta["violations"], "checks_passed": passed,
                "solve_seconds": round(res.solve_seconds, 2), "gap": None if res.gap is None else round(res.gap, 4),
                "objective": res.objective, "best_bound": res.best_bound,
            }  # fmt: skip
        g, c = row["greedy"]["weighted_tardiness_hours"], row["cp_sat"]["weighted_tardiness_hours"]
        row["improvement_pct"] = round(100 * (g - c) / g, 1) if g > 0 else 0.0
        row["work_hours"] = round(float(inst.requests["estimated_duration_hours"].sum()), 1)
        results[n] = row
    return results


def format_results(results: dict) -> str:
    """A Markdown table of `evaluate_scheduling` results (for BENCHMARKS.md and the command line)."""
    lines = ["| requests | work h | weighted tardiness h: greedy | CP-SAT | improvement | unscheduled greedy / CP-SAT "
             "| violations | CP-SAT time s | status | gap |", "|---|---|---|---|---|---|---|---|---|---|"]
    for n, r in results.items():
        g, c = r["greedy"], r["cp_sat"]
        gap = "n/a" if c["gap"] is None else f"{100 * c['gap']:.2f} %"
        lines.append(f"| {n} | {r['work_hours']} | {g['weighted_tardiness_hours']:.1f} | {c['weighted_tardiness_hours']:.1f} "
                     f"| {r['improvement_pct']:.1f} % | {g['unscheduled']} / {c['unscheduled']} "
                     f"| {g['violations']} / {c['violations']} | {c['solve_seconds']} | {c['status']} | {gap} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m smart_maintenance.maintenance.evaluation [--sizes 50 200 500] [--seed 0] [--json]`."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description="CP-SAT against the greedy baseline on generated instances")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the full results as JSON too")
    args = parser.parse_args(argv)
    results = evaluate_scheduling(tuple(args.sizes), args.seed)
    print(format_results(results))
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 0 if all(r[m]["violations"] == 0 for r in results.values() for m in ("greedy", "cp_sat")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
