"""Typed maintenance settings, defaults in one place: requests, approval policy, shifts and scheduling.

Durations and required skills per (equipment type, request type) can be overridden from the reference
file `reference/maintenance_types.csv` (columns equipment_type, request_type, duration_hours, skills;
`*` as equipment type is the fallback for every type) with `MaintenanceConfig.with_types(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pandas as pd

from smart_maintenance import storage
from smart_maintenance.fingerprint import fingerprint

REQUEST_TYPES = ("urgent_corrective", "preventive", "inspection")
SEVERITIES = ("low", "medium", "high", "critical")
TYPES_FILE = "maintenance_types.csv"


@dataclass(frozen=True)
class WorkType:
    """How long a job takes and which skills (all of them) the one technician doing it needs."""

    duration_hours: float
    skills: tuple[str, ...]


def _default_types() -> dict[tuple[str, str], WorkType]:
    disciplines = {"pump": "mechanical", "motor": "electrical", "compressor": "mechanical", "fan": "mechanical",
                   "conveyor": "mechanical", "gearbox": "mechanical"}  # fmt: skip
    hours = {"urgent_corrective": 4.0, "preventive": 3.0, "inspection": 1.0}
    types = {("*", kind): WorkType(h, ()) for kind, h in hours.items()}
    for equipment_type, discipline in disciplines.items():
        for kind, h in hours.items():
            # inspections are condition checks: the discipline is enough, no type specialist needed
            skills = (discipline,) if kind == "inspection" else (discipline, equipment_type)
            types[(equipment_type, kind)] = WorkType(h, skills)
    return types


@dataclass(frozen=True)
class RequestConfig:
    """Turning credible alerts and failure forecasts into requests (see requests.py for the rules)."""

    alert_statuses: tuple[str, ...] = ("credible",)  # validation statuses that may open a request
    safety_margin: timedelta = timedelta(hours=24)  # work must end this long before the (lower) failure time
    urgent_within: timedelta = timedelta(hours=72)  # failure sooner than this => urgent corrective
    preventive_within: timedelta = timedelta(days=14)  # failure sooner than this => preventive
    preventive_min_p_fail: float = 0.5  # ... or p_fail_7d at least this
    inspection_min_p_fail: float = 0.2  # lower risk down to this => inspection; below: no request
    # due time after an alert starts, by severity
    due_after_alert: dict[str, timedelta] = field(default_factory=lambda: {
        "critical": timedelta(hours=4), "high": timedelta(hours=24),
        "medium": timedelta(days=3), "low": timedelta(days=7)})  # fmt: skip
    # priority 1 (most urgent) .. 4
    priority_by_severity: dict[str, int] = field(
        default_factory=lambda: {"critical": 1, "high": 2, "medium": 3, "low": 4})
    priority_by_type: dict[str, int] = field(
        default_factory=lambda: {"urgent_corrective": 2, "preventive": 3, "inspection": 4})
    critical_within: timedelta = timedelta(hours=24)  # failure sooner than this => priority 1
    # after a rejection, new evidence on the same equipment opens a request again only after this
    # long, or at once if it is more urgent (lower priority number) than the rejected request
    rejection_quiet_period: timedelta = timedelta(days=3)
    types: dict[tuple[str, str], WorkType] = field(default_factory=_default_types)

    def work_type(self, equipment_type: str | None, request_type: str) -> WorkType:
        return self.types.get((equipment_type or "*", request_type)) or self.types[("*", request_type)]


@dataclass(frozen=True)
class ApprovalPolicy:
    """Auto-approve when (confidence >= min_confidence AND hours to failure <= max_hours_to_failure)
    OR severity is critical; a human decides everything else (policy.py)."""

    enabled: bool = True
    min_confidence: float = 0.8
    max_hours_to_failure: float = 72.0
    approve_critical: bool = True


@dataclass(frozen=True)
class ShiftConfig:
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday=0; a technician's `workdays` column overrides


@dataclass(frozen=True)
class SchedulerConfig:
    horizon: timedelta = timedelta(days=14)
    grain: timedelta = timedelta(minutes=15)
    time_limit_seconds: float = 10.0
    num_workers: int = 2  # shared 2-core machine: never more
    random_seed: int = 0
    freeze: timedelta = timedelta(hours=4)  # previous assignments starting sooner than this are kept as they are
    priority_weights: dict[int, int] = field(default_factory=lambda: {1: 8, 2: 4, 3: 2, 4: 1})
    # weighted objective, lexicographic in practice: tardiness (per weighted slot) >> unscheduled
    # work (per slot) >> changes to the previous plan (per request moved)
    weight_tardiness: int = 100
    weight_unscheduled: int = 10
    weight_change: int = 1
    use_greedy_hint: bool = True  # start the search from the greedy plan: never worse than the baseline


@dataclass(frozen=True)
class MaintenanceConfig:
    requests: RequestConfig = field(default_factory=RequestConfig)
    policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    shifts: ShiftConfig = field(default_factory=ShiftConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)

    def with_types(self, types: pd.DataFrame | Path | str | None) -> MaintenanceConfig:
        """A copy whose work types are overridden by the rows of maintenance_types.csv (or a frame)."""
        if types is None:
            return self
        if not isinstance(types, pd.DataFrame):
            path = storage.as_path(types)
            if path.is_dir():
                path = path / TYPES_FILE
            if not path.exists():
                return self
            with path.open("rb") as fh:
                types = pd.read_csv(fh, dtype=str, keep_default_na=False, skipinitialspace=True)
        merged = dict(self.requests.types)
        merged.update(parse_types(types))
        return replace(self, requests=replace(self.requests, types=merged))

    def fingerprint(self) -> str:
        """Short hash of every setting: stored with fitted models and in their versions."""
        return fingerprint(self)


def parse_types(frame: pd.DataFrame) -> dict[tuple[str, str], WorkType]:
    """Rows of maintenance_types.csv -> {(equipment_type, request_type): WorkType}; bad rows raise."""
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    missing = {"equipment_type", "request_type", "duration_hours"} - set(frame.columns)
    if missing:
        raise ValueError(f"{TYPES_FILE} lacks column(s) {', '.join(sorted(missing))}")
    out: dict[tuple[str, str], WorkType] = {}
    for row in frame.itertuples(index=False):
        kind = str(row.request_type).strip()
        if kind not in REQUEST_TYPES:
            raise ValueError(f"{TYPES_FILE}: unknown request_type {kind!r} (expected one of {', '.join(REQUEST_TYPES)})")
        hours = float(row.duration_hours)
        if not hours > 0:
            raise ValueError(f"{TYPES_FILE}: duration_hours must be > 0, got {row.duration_hours!r}")
        skills = str(getattr(row, "skills", "") or "")
        out[(str(row.equipment_type).strip() or "*", kind)] = WorkType(hours, split_skills(skills))
    return out


def split_skills(text: object) -> tuple[str, ...]:
    """';'-separated skills -> sorted unique lower-case tuple (empty for blank / missing)."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ()
    return tuple(sorted({s.strip().lower() for s in str(text).split(";") if s.strip()}))
