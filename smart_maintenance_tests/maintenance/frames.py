"""Small hand-made frames for the maintenance tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pandas as pd

from smart_maintenance.maintenance import MaintenanceConfig
from smart_maintenance.maintenance.requests import normalize

FRIDAY_EVENING = pd.Timestamp("2026-03-06 17:59", tz="UTC")  # a Friday
MONDAY = pd.Timestamp("2026-03-02 07:00", tz="UTC")

# a quick solver for unit tests: the instances are tiny
CONFIG = replace(MaintenanceConfig(), scheduler=replace(MaintenanceConfig().scheduler, time_limit_seconds=3.0,
                                                        horizon=timedelta(days=7)))


def technicians(*rows: tuple) -> pd.DataFrame:
    """rows: (technician_id, skills, shift_start, shift_end, timezone[, workdays])."""
    out = []
    for r in rows:
        tid, skills, start, end, tz = r[:5]
        out.append({"technician_id": tid, "name": tid, "skills": skills, "shift_start": start, "shift_end": end,
                    "timezone": tz, "workdays": r[5] if len(r) > 5 else None})
    return pd.DataFrame(out)


def requests(*rows: dict, now: pd.Timestamp = MONDAY) -> pd.DataFrame:
    base = {"status": "approved", "priority": 2, "request_type": "urgent_corrective", "equipment_type": "pump",
            "estimated_duration_hours": 2.0, "due_by": now + pd.Timedelta(days=1), "required_skills": "mechanical", "created_at": now, "updated_at": now,
            "status_changed_at": now}
    return normalize(pd.DataFrame([{**base, "equipment_id": f"eq-{r['request_id']}", **r} for r in rows]))


def alert(alert_id: str, equipment_id: str, started_at: str, severity: str = "high", status: str = "credible",
          peak: float = 0.9) -> dict:
    t = pd.Timestamp(started_at, tz="UTC")
    return {"alert_id": alert_id, "equipment_id": equipment_id, "sensor_id": "vib", "started_at": t,
            "ended_at": t + pd.Timedelta(minutes=30), "severity": severity, "validation_status": status,
            "peak_score": peak}
