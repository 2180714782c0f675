"""Maintenance settings as a resource: the approval policy, the planner's limits and the notification
rate limit users tune, on top of the core's defaults (`smart_maintenance.maintenance.config`).

Reference files beside `technicians.csv` are optional: `maintenance_types.csv` (durations and skills per
equipment type), `holidays.csv` (column `date`: local dates without shifts) and `absences.csv`
(`technician_id` or `*`, `start`, `end` in UTC).
"""

import dataclasses
from datetime import date, timedelta

import dagster as dg
import pandas as pd
from pydantic import Field

from smart_maintenance import lake
from smart_maintenance.config import DataRoot
from smart_maintenance.maintenance.config import ApprovalPolicy, MaintenanceConfig, SchedulerConfig
from smart_maintenance.maintenance.notifications import OutboxConfig
from smart_maintenance.reference import read_reference

_POLICY, _SCHEDULER, _OUTBOX = ApprovalPolicy(), SchedulerConfig(), OutboxConfig()


class MaintenanceResource(dg.ConfigurableResource):
    """Approval policy, planning limits and notification rate limit for the maintenance assets and jobs."""

    now: str = Field(default="", description="ISO time taken as 'now'. Empty: the latest reading in the lake "
                                             "(the data's now), never the wall clock.")
    auto_approve: bool = Field(default=_POLICY.enabled,
                               description="Apply the auto-approval policy (off: a human decides everything).")
    min_confidence: float = Field(default=_POLICY.min_confidence,
                                  description="Auto-approve only at or above this confidence (0..1)...")
    max_hours_to_failure: float = Field(default=_POLICY.max_hours_to_failure,
                                        description="... and when the failure is predicted within this many hours.")
    approve_critical: bool = Field(default=_POLICY.approve_critical,
                                   description="Auto-approve every request with a critical alert.")
    horizon_days: float = Field(default=_SCHEDULER.horizon / timedelta(days=1), description="Planning horizon.")
    time_limit_seconds: float = Field(default=_SCHEDULER.time_limit_seconds, description="CP-SAT time limit per plan.")
    freeze_hours: float = Field(default=_SCHEDULER.freeze / timedelta(hours=1),
                                description="Assignments starting sooner than this are kept as planned (stable re-planning).")
    notifications_per_hour: int = Field(default=_OUTBOX.per_hour,
                                        description="Messages per recipient per hour; the rest wait in the outbox as rate_limited.")
    notification_max_attempts: int = Field(default=_OUTBOX.max_attempts,
                                           description="Delivery attempts before a message stays failed.")

    def config(self, root: DataRoot) -> MaintenanceConfig:
        base = MaintenanceConfig()
        policy = ApprovalPolicy(self.auto_approve, self.min_confidence, self.max_hours_to_failure, self.approve_critical)
        scheduler = dataclasses.replace(base.scheduler, horizon=timedelta(days=self.horizon_days),
                                        time_limit_seconds=self.time_limit_seconds, freeze=timedelta(hours=self.freeze_hours))
        return dataclasses.replace(base, policy=policy, scheduler=scheduler).with_types(root.reference)

    def outbox_config(self) -> OutboxConfig:
        return OutboxConfig(per_hour=self.notifications_per_hour, max_attempts=self.notification_max_attempts)

    def current_time(self, root: DataRoot) -> pd.Timestamp | None:
        """The configured `now`, else the latest reading time in the lake; None when there is no reading."""
        if self.now:
            t = pd.Timestamp(self.now)
            return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        return data_now(root)


def data_now(root: DataRoot) -> pd.Timestamp | None:
    """The latest reading time in the lake (the newest daily partition's maximum timestamp)."""
    days = sorted(p.name.removeprefix("date=") for p in (root.lake / "sensor_readings").glob("date=*"))
    for day in reversed(days):
        path = lake.partition_file(root.lake, "sensor_readings", "date", day)
        if path is not None:
            (latest,) = lake.connect().execute(f"SELECT max(timestamp) FROM {lake.files_sql([path])}").fetchall()[0]
            if latest is not None:
                return pd.Timestamp(latest).tz_convert("UTC")
    return None


def technicians(root: DataRoot) -> pd.DataFrame:
    """technicians.csv cast to its schema, plus its optional columns `workdays` and `email`."""
    frame = read_reference(root.reference, "technicians").to_pandas()
    path = root.reference / "technicians.csv"
    if path.exists() and len(frame):
        with path.open("rb") as fh:
            raw = pd.read_csv(fh, dtype=str, keep_default_na=False, skipinitialspace=True)
        raw.columns = [c.strip().lower() for c in raw.columns]
        extra = [c for c in ("workdays", "email") if c in raw.columns]
        if extra:
            raw["technician_id"] = raw["technician_id"].str.strip()
            frame = frame.merge(raw[["technician_id", *extra]].drop_duplicates("technician_id", keep="last"),
                                on="technician_id", how="left")
    for c in ("workdays", "email"):
        if c not in frame.columns:
            frame[c] = None
    return frame


def holidays(root: DataRoot) -> list[date]:
    path = root.reference / "holidays.csv"
    if not path.exists():
        return []
    with path.open("rb") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return sorted({pd.Timestamp(d).date() for d in frame.get("date", []) if str(d).strip()})


def absences(root: DataRoot) -> pd.DataFrame | None:
    path = root.reference / "absences.csv"
    if not path.exists():
        return None
    with path.open("rb") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return frame[["technician_id", "start", "end"]] if len(frame) else None
