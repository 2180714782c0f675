"""Validation of a technician schedule, independent of how it was made (the asset check calls this).

Hard constraints, each counted separately:
- approved_only: every planned request is approved / scheduled (or in progress, for kept work);
- known: the request and the technician exist; a request appears at most once;
- skills: the technician holds every required skill;
- in_shift: each assignment lies inside one availability window of its technician (shifts, time zone,
  holidays, absences); assignments kept from an earlier plan that already started are exempt;
- no_overlap: a technician's assignments do not overlap;
- duration: end - start covers the estimated duration.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from smart_maintenance.maintenance.config import MaintenanceConfig, split_skills
from smart_maintenance.maintenance.shifts import expand_shifts

CHECKS = ("approved_only", "known", "skills", "in_shift", "no_overlap", "duration")
ALLOWED = {"approved", "scheduled", "in_progress"}


def check_plan(
    schedule: pd.DataFrame,
    requests: pd.DataFrame,
    technicians: pd.DataFrame,
    config: MaintenanceConfig | None = None,
    now: datetime | pd.Timestamp | None = None,
    holidays: list[date] | None = None,
    absences: pd.DataFrame | None = None,
    max_examples: int = 10,
) -> tuple[bool, dict]:
    """(passed, metadata): metadata has `violations` (total), `by_check` counts and `examples`."""
    config = config or MaintenanceConfig()
    found: dict[str, list[str]] = {c: [] for c in CHECKS}
    if len(schedule) == 0:
        return True, {"violations": 0, "by_check": {c: 0 for c in CHECKS}, "examples": [], "assignments": 0}
    s = schedule.copy()
    s["start"], s["end"] = pd.to_datetime(s["start"], utc=True), pd.to_datetime(s["end"], utc=True)
    req = requests.set_index("request_id")
    skills = {str(t): set(split_skills(k)) for t, k in zip(technicians["technician_id"], technicians["skills"])}
    windows = expand_shifts(technicians, s["start"].min() - timedelta(days=1), s["end"].max() + timedelta(days=1),
                            config.scheduler.grain, config.shifts.workdays, holidays, absences)  # fmt: skip
    by_tech = {t: list(zip(g["start"], g["end"])) for t, g in windows.groupby("technician_id")}
    now = pd.Timestamp(now) if now is not None else None
    frozen = s["frozen"].astype(bool) if "frozen" in s.columns else pd.Series(False, index=s.index)

    for dup in s.loc[s["request_id"].duplicated(), "request_id"]:
        found["known"].append(f"{dup}: planned more than once")
    for (rid, tech, a, b), kept in zip(s[["request_id", "technician_id", "start", "end"]].itertuples(index=False), frozen):
        label = f"{rid} on {tech} {a:%Y-%m-%d %H:%M}-{b:%H:%M} UTC"
        if rid not in req.index:
            found["known"].append(f"{label}: unknown request")
            continue
        if tech not in skills:
            found["known"].append(f"{label}: unknown technician")
            continue
        r = req.loc[rid]
        if r["status"] not in ALLOWED:
            found["approved_only"].append(f"{label}: request is {r['status']}")
        missing = set(split_skills(r.get("required_skills"))) - skills[tech]
        if missing:
            found["skills"].append(f"{label}: lacks {';'.join(sorted(missing))}")
        started_before = kept and now is not None and a < now
        if not started_before and not any(x <= a and b <= y for x, y in by_tech.get(tech, [])):
            found["in_shift"].append(f"{label}: outside the technician's shifts")
        hours = r.get("estimated_duration_hours")
        if b <= a or (pd.notna(hours) and (b - a) < pd.Timedelta(hours=float(hours))):
            found["duration"].append(f"{label}: shorter than the estimated {hours} h")
    for tech, g in s.sort_values("start").groupby("technician_id"):
        ends = g["end"].cummax().shift()
        for rid, a, prev_end in zip(g["request_id"], g["start"], ends):
            if pd.notna(prev_end) and a < prev_end:
                found["no_overlap"].append(f"{rid} on {tech} starts before the previous job ends")
    by_check = {c: len(v) for c, v in found.items()}
    total = sum(by_check.values())
    examples = [f"{c}: {e}" for c, v in found.items() for e in v][:max_examples]
    return total == 0, {"violations": total, "by_check": by_check, "examples": examples, "assignments": len(s)}
