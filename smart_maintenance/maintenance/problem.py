"""The planning problem on the time grid, shared by the CP-SAT scheduler and the greedy baseline.

Time is counted in slots of `grain` from `t0` (now rounded up to the grid) to the horizon end. Each
approved request is a job: one technician holding *all* its required skills does it in one piece, inside
one free shift window (a job never spans a shift end: a job longer than every free window of its
qualified technicians is unschedulable with that reason; split such work into several requests).
Assignments of the previous plan that already started or start within the freeze window are kept as
they are (their technician's time is taken out of the free windows); the rest of the previous plan is
only a preference (changes cost a little in the objective).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

from smart_maintenance import schemas
from smart_maintenance.maintenance.config import MaintenanceConfig, split_skills
from smart_maintenance.maintenance.lifecycle import SCHEDULABLE
from smart_maintenance.maintenance.shifts import ceil_to, expand_shifts

SCHEDULE_COLUMNS = schemas.TECHNICIAN_SCHEDULE.names
UNSCHEDULED_COLUMNS = schemas.UNSCHEDULED_REQUESTS.names
NO_CAPACITY = "no capacity before the horizon end"


@dataclass(frozen=True)
class Option:
    tech: str
    window: int  # index into Problem.windows[tech]
    earliest: int  # first start slot
    latest: int  # last start slot


@dataclass
class Job:
    request_id: str
    equipment_id: str
    request_type: str
    priority: int
    weight: int
    due_by: pd.Timestamp
    due: int  # due slot (floor): may be negative for an overdue request
    duration: int  # slots
    skills: tuple[str, ...]
    overdue: bool
    options: list[Option] = field(default_factory=list)


@dataclass
class Problem:
    now: pd.Timestamp
    t0: pd.Timestamp
    grain: pd.Timedelta
    horizon: int  # slots
    windows: dict[str, list[tuple[int, int]]]  # free windows per technician, [start, end) slots
    jobs: list[Job]
    frozen: pd.DataFrame  # kept assignments, in TECHNICIAN_SCHEDULE columns
    unschedulable: dict[str, str]  # request_id -> reason known before solving
    previous: dict[str, tuple[str, int]]  # request_id -> (technician, start slot) of the previous plan
    requests: pd.DataFrame  # the schedulable requests, for the output

    def slot_time(self, slot: int) -> pd.Timestamp:
        return self.t0 + slot * self.grain


def build_problem(
    requests: pd.DataFrame,
    technicians: pd.DataFrame,
    now: datetime | pd.Timestamp,
    config: MaintenanceConfig | None = None,
    previous_plan: pd.DataFrame | None = None,
    holidays: list[date] | None = None,
    absences: pd.DataFrame | None = None,
) -> Problem:
    config = config or MaintenanceConfig()
    cfg = config.scheduler
    grain = pd.Timedelta(cfg.grain)
    now = _utc(now)
    t0 = ceil_to(now, cfg.grain)
    horizon = int((pd.Timedelta(cfg.horizon)) / grain)
    end = t0 + horizon * grain
    status = dict(zip(requests["request_id"], requests["status"]))

    frozen = _frozen(previous_plan, status, now, cfg.freeze)
    windows_df = expand_shifts(technicians, t0, end, cfg.grain, config.shifts.workdays, holidays, absences)
    busy = {} if len(frozen) == 0 else {
        t: [(int(math.floor((s - t0) / grain)), int(math.ceil((e - t0) / grain))) for s, e in zip(g["start"], g["end"])]
        for t, g in frozen.groupby("technician_id")}  # fmt: skip
    windows: dict[str, list[tuple[int, int]]] = {str(t): [] for t in technicians["technician_id"]}
    for t, s, e in windows_df.itertuples(index=False):
        pieces = [(int((s - t0) / grain), int((e - t0) / grain))]
        for a, b in busy.get(t, []):
            pieces = [p for x, y in pieces for p in ((x, min(y, a)), (max(x, b), y)) if p[1] > p[0]]
        windows[t].extend(pieces)
    skills = {str(t): set(split_skills(s)) for t, s in zip(technicians["technician_id"], technicians["skills"])}

    todo = requests[requests["status"].isin(SCHEDULABLE) & ~requests["request_id"].isin(set(frozen["request_id"]))]
    todo = todo.sort_values(["due_by", "priority", "request_id"], kind="stable").reset_index(drop=True)
    jobs, unschedulable = [], {}
    for r in todo.to_dict("records"):
        rid, need = r["request_id"], split_skills(r.get("required_skills"))
        hours = r.get("estimated_duration_hours")
        if hours is None or pd.isna(hours) or hours <= 0:
            unschedulable[rid] = "no estimated duration"
            continue
        due_by = _utc(r["due_by"]) if pd.notna(r.get("due_by")) else end
        priority = int(r["priority"]) if pd.notna(r.get("priority")) else 4
        job = Job(rid, r["equipment_id"], r.get("request_type") or "", priority, cfg.priority_weights.get(priority, 1),
                  due_by, int(math.floor((due_by - t0) / grain)), int(math.ceil(pd.Timedelta(hours=hours) / grain)),
                  need, due_by < now)  # fmt: skip
        qualified = sorted(t for t, have in skills.items() if set(need) <= have)
        for t in qualified:
            for w, (a, b) in enumerate(windows[t]):
                if b - a >= job.duration:
                    job.options.append(Option(t, w, a, b - job.duration))
        if not qualified:
            unschedulable[rid] = f"no technician has the skills: {';'.join(need)}"
        elif not any(windows[t] for t in qualified):
            unschedulable[rid] = f"no shift of a qualified technician ({', '.join(qualified)}) in the horizon"
        elif not job.options:
            longest = max(b - a for t in qualified for a, b in windows[t]) * grain / pd.Timedelta(hours=1)
            unschedulable[rid] = (f"duration {hours:g} h longer than every free shift window of the qualified "
                                  f"technicians (longest {longest:g} h): split the work")  # fmt: skip
        else:
            jobs.append(job)
    previous = {}
    if previous_plan is not None and len(previous_plan):
        for rid, t, s in zip(previous_plan["request_id"], previous_plan["technician_id"], previous_plan["start"]):
            if rid not in set(frozen["request_id"]):
                previous[rid] = (str(t), int(round((_utc(s) - t0) / grain)))
    return Problem(now, t0, grain, horizon, windows, jobs, frozen, unschedulable, previous, todo)


def _frozen(previous: pd.DataFrame | None, status: dict, now: pd.Timestamp, freeze) -> pd.DataFrame:
    """Previous assignments started or starting within the freeze window, of requests still to be done."""
    if previous is None or len(previous) == 0:
        return pd.DataFrame(columns=SCHEDULE_COLUMNS)
    p = previous.copy()
    p["start"], p["end"] = pd.to_datetime(p["start"], utc=True), pd.to_datetime(p["end"], utc=True)
    keep = (p["start"] < now + pd.Timedelta(freeze)) & (p["end"] > now)
    keep &= p["request_id"].map(lambda r: status.get(r) in ("approved", "scheduled", "in_progress"))
    out = p[keep].copy()
    out["frozen"] = True
    return out


def to_frames(problem: Problem, placed: dict[str, tuple[str, int]], method: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(technician_schedule, unscheduled) frames from placements {request_id: (technician, start slot)}."""
    rows = []
    for job in problem.jobs:
        if job.request_id not in placed:
            continue
        tech, s = placed[job.request_id]
        start, end = problem.slot_time(s), problem.slot_time(s + job.duration)
        tard = max(0.0, (end - job.due_by) / pd.Timedelta(hours=1))
        rows.append([job.request_id, tech, start, end, job.equipment_id, job.request_type, job.priority, job.due_by,
                     tard, tard > 0, job.overdue, False, method, problem.now])  # fmt: skip
    schedule = pd.DataFrame(rows, columns=SCHEDULE_COLUMNS)
    if len(problem.frozen):
        f = problem.frozen.reindex(columns=SCHEDULE_COLUMNS).copy()
        f["frozen"], f["planned_at"] = True, problem.now
        f["method"] = f["method"].fillna(method)
        schedule = pd.concat([f, schedule], ignore_index=True) if len(schedule) else f
    schedule = _typed(schedule, schemas.TECHNICIAN_SCHEDULE).sort_values(["technician_id", "start"]).reset_index(drop=True)

    reasons = dict(problem.unschedulable)
    for job in problem.jobs:
        if job.request_id not in placed:
            reasons[job.request_id] = NO_CAPACITY + f" ({len(job.options)} shift window option(s) all taken)"
    info = problem.requests.set_index("request_id")
    unscheduled = pd.DataFrame(
        [[rid, info.at[rid, "equipment_id"], info.at[rid, "priority"], info.at[rid, "due_by"], reason, problem.now]
         for rid, reason in sorted(reasons.items())], columns=UNSCHEDULED_COLUMNS)  # fmt: skip
    return schedule, _typed(unscheduled, schemas.UNSCHEDULED_REQUESTS)


def plan_metrics(problem: Problem, placed: dict[str, tuple[str, int]]) -> dict:
    """Priority-weighted tardiness (hours; a job left without capacity counts as done right after the
    horizon end, so dropping work never looks better), its scheduled-only part, unscheduled count."""
    hour = pd.Timedelta(hours=1) / problem.grain
    weighted = scheduled_only = 0.0
    late = 0
    for job in problem.jobs:
        end = placed[job.request_id][1] + job.duration if job.request_id in placed else problem.horizon + job.duration
        t = max(0, end - job.due) / hour
        weighted += job.weight * t
        if job.request_id in placed:
            scheduled_only += job.weight * t
            late += t > 0
    return {"weighted_tardiness_hours": round(weighted, 2), "weighted_tardiness_scheduled_hours": round(scheduled_only, 2),
            "scheduled": len(placed), "late": late, "unscheduled": len(problem.jobs) - len(placed) + len(problem.unschedulable),
            "unscheduled_no_capacity": len(problem.jobs) - len(placed), "frozen": len(problem.frozen)}  # fmt: skip


def _typed(frame: pd.DataFrame, schema) -> pd.DataFrame:
    out = frame.copy()
    for f in schema:
        if f.type == schemas.TS:
            out[f.name] = pd.to_datetime(out[f.name], utc=True).astype("datetime64[us, UTC]")
        elif f.type == schemas.pa.int64():
            out[f.name] = pd.to_numeric(out[f.name]).astype("Int64")
        elif f.type == schemas.pa.float64():
            out[f.name] = pd.to_numeric(out[f.name]).astype("float64")
        elif f.type == schemas.pa.bool_():
            out[f.name] = out[f.name].astype(bool)
    return out


def _utc(t: object) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


__all__ = ["Job", "Option", "Problem", "build_problem", "plan_metrics", "to_frames", "NO_CAPACITY"]
