"""The report's numbers, computed once from the lake: the JSON summary is this dict, and the HTML report
is drawn from it only, so both always say the same thing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from smart_maintenance.reporting.anomalies import anomaly_summary, window_alerts
from smart_maintenance.reporting.fleet import fleet_summary
from smart_maintenance.reporting.forecasts import forecast_summary, latest_forecasts, latest_health
from smart_maintenance.reporting.frames import LakeView, Window
from smart_maintenance.reporting.maintenance import maintenance_summary
from smart_maintenance.reporting.quality import data_quality, ledger, performance

SCHEMA_VERSION = 1


def default_window(lake_dir: Path, start: date | None, end: date | None, now: datetime, default_days: int = 1) -> Window:
    """Missing bounds: `end` is the last day with readings at or before `now` (else `now`'s day), and
    `start` is `default_days` days back, `end` included (1: a one-day report)."""
    if end is None:
        end = last_reading_day(LakeView(lake_dir), now) or pd.Timestamp(now).date()
    if start is None:
        start = end - timedelta(days=max(default_days, 1) - 1)
    if start > end:
        raise ValueError(f"report start {start} is after its end {end}")
    return Window(start, end, now)


def last_reading_day(view: LakeView, now: datetime) -> date | None:
    folder = view.dir / "sensor_readings"
    limit = pd.Timestamp(now).date().isoformat()
    days = sorted(p.name.removeprefix("date=") for p in folder.glob("date=*") if p.name.removeprefix("date=") <= limit)
    return date.fromisoformat(days[-1]) if days else None


def compute_summary(lake_dir: Path, window: Window, runs: pd.DataFrame | None = None) -> dict[str, Any]:
    """Every section's numbers for the window. `runs` (optional): the orchestrator's runs with their
    start/end times (columns in `quality.RUN_COLUMNS`), for the pipeline performance section."""
    view = LakeView(lake_dir)
    alerts = window_alerts(view, window)
    forecasts = latest_forecasts(view, window)
    files = ledger(view, window)
    return {
        "schema_version": SCHEMA_VERSION,
        "report": window.describe(),
        "datasets": {d: view.has(d) for d in ("sensor_readings", "anomaly_scores", "alerts", "ingested_files",
                                              "quarantine", "maintenance_events", "decisions", "failure_forecasts",
                                              "maintenance_requests", "technician_schedule")},
        "fleet": fleet_summary(view, window, alerts, forecasts, latest_health(view, window)),
        "anomalies": anomaly_summary(view, window, alerts),
        "maintenance": maintenance_summary(view, window),
        "forecasts": forecast_summary(view, forecasts),
        "data_quality": data_quality(view, window, files),
        "performance": performance(files, window, runs),
    }


def key_numbers(summary: dict[str, Any]) -> dict[str, Any]:
    """The handful of numbers worth a glance (report header, Dagster metadata)."""
    fleet, anomalies, quality = summary["fleet"], summary["anomalies"], summary["data_quality"]
    maintenance = summary["maintenance"]
    return {
        "equipment": fleet["equipment_count"],
        "equipment_at_risk": fleet["by_status"]["at_risk"],
        "equipment_alerting": fleet["by_status"]["alerting"],
        "readings": quality["readings_in_window"],
        "anomaly_rate": anomalies["anomaly_rate"],
        "alerts": anomalies["alerts"],
        "credible_alerts": anomalies["by_validation_status"]["credible"],
        "failures": maintenance["repairs"]["failures"],
        "mttr_hours": maintenance["repairs"]["mttr_hours"],
        "overdue_requests": maintenance["requests"]["overdue"],
        "files_ingested": quality["window"]["files_ingested"],
        "rows_quarantined": quality["window"]["rows_quarantined"],
        "freshness_hours": quality["freshness_hours"],
    }


