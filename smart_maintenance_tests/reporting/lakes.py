"""Lakes for the report tests: a small hand-made one whose every number is known, and the synthetic
plant run through the real pipeline (`run_once`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa

from smart_maintenance import lake, schemas
from smart_maintenance.config import DataRoot

DAY = datetime(2026, 3, 10, tzinfo=timezone.utc)
NOW = DAY + timedelta(days=1, hours=6)  # the report of DAY is judged as of DAY + 1 day (00:00)
EVIL = "<script>alert(1)</script>"
EVIL_TECHNICIAN = "<img src=x onerror=alert(2)>"


def at(hours: float, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hours)


def _table(schema: pa.Schema, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def _readings(equipment: str, sensor: str, start: datetime, n: int, anomalies: int) -> list[dict]:
    return [{"timestamp": start + timedelta(hours=i), "equipment_id": equipment, "sensor_id": sensor, "value": 1.0 + i,
             "anomaly_score": 0.9 if i < anomalies else 0.1, "is_anomaly": i < anomalies} for i in range(n)]


def hand_made_lake(folder: Path) -> Path:
    """Three equipment (one silent for days), alerts, events, requests, decisions, a schedule, forecasts
    and a ledger around DAY, with a sensor and a technician whose names are HTML."""
    lake_dir = folder / "lake"
    by_day = {
        DAY: _readings("pump-1", "temp", DAY, 10, 2) + _readings("pump-1", EVIL, DAY, 4, 1) + _readings("fan-2", "temp", DAY, 6, 0),
        DAY - timedelta(days=1): _readings("pump-1", "temp", DAY - timedelta(days=1), 5, 5),
        DAY - timedelta(days=2): _readings("mtr-3", "temp", at(12, DAY - timedelta(days=2)), 1, 0),
    }
    for day, rows in by_day.items():
        key = day.date().isoformat()
        lake.write_partition(lake_dir, "sensor_readings", "date", key, _table(schemas.SENSOR_READINGS, rows))
        lake.write_partition(lake_dir, "anomaly_scores", "date", key, _table(schemas.ANOMALY_SCORES, rows))
    lake.write_partition(lake_dir, "equipment", "version", "current", _table(schemas.EQUIPMENT, [
        {"equipment_id": "pump-1", "site": "north", "type": "pump", "criticality": "high"},
        {"equipment_id": "fan-2", "site": "south", "type": "fan", "criticality": "low"},
        {"equipment_id": "mtr-3", "site": "south", "type": "motor", "criticality": "medium"}]))
    lake.write_partition(lake_dir, "technicians", "version", "current", _table(schemas.TECHNICIANS, [
        {"technician_id": "t1", "name": "Ada", "shift_start": "08:00", "shift_end": "16:00", "timezone": "UTC"},
        {"technician_id": "t2", "name": EVIL_TECHNICIAN, "shift_start": "22:00", "shift_end": "06:00", "timezone": "UTC"}]))
    alert = lambda aid, eq, sensor, start, sev, status, is_open=False: {  # noqa: E731
        "alert_id": aid, "equipment_id": eq, "sensor_id": sensor, "started_at": start, "ended_at": start + timedelta(minutes=30),
        "severity": sev, "validation_status": status, "n_readings": 3, "peak_score": 0.9, "mean_score": 0.7, "is_open": is_open}
    lake.write_dataset(lake_dir, "alerts", _table(schemas.ALERTS, [
        alert("a0", "pump-1", "temp", at(-14), "critical", "credible"),  # the day before
        alert("a1", "pump-1", "temp", at(2), "high", "credible"),
        alert("a2", "pump-1", EVIL, at(3), "low", "suspected_false_positive"),
        alert("a3", "fan-2", "temp", at(5), "medium", "needs_investigation", is_open=True),
        alert("a4", "pump-1", "temp", at(25), "high", "credible"),  # after the as-of time
    ]))
    event = lambda eq, hours, kind, notes=None: {"timestamp": at(hours), "equipment_id": eq, "event_type": kind,  # noqa: E731
                                                 "technician_id": "t1", "notes": notes}
    lake.write_partition(lake_dir, "maintenance_events", "file", "e1", _table(schemas.MAINTENANCE_EVENTS, [
        event("pump-1", -20, "failure"), event("pump-1", -18, "corrective_repair"),  # the day before
        event("pump-1", 1, "failure", "<script>alert('notes')</script>"), event("pump-1", 4.5, "corrective_repair"),
        event("fan-2", 6, "failure"), event("fan-2", 8, "replacement"),
        event("mtr-3", 20, "failure"),  # not repaired yet
        event("fan-2", 10, "inspection"),
    ]))
    ledger = lambda sha, batch, status, kind, read, kept, quarantined, duplicate, hours: {  # noqa: E731
        "file_sha256": sha, "source_file": f"{sha}.csv", "kind": kind, "status": status, "rows_read": read, "rows_kept": kept,
        "rows_quarantined": quarantined, "rows_duplicate": duplicate, "rows_replaced": 0, "run_id": batch,
        "ingested_at": at(hours), "reason": "unreadable" if status == "rejected" else None}
    lake.write_partition(lake_dir, "ingested_files", "batch", "b0", _table(schemas.INGESTED_FILES, [
        ledger("f0", "b0", "ingested", "readings_long", 5, 5, 0, 0, -14)]))
    lake.write_partition(lake_dir, "ingested_files", "batch", "b1", _table(schemas.INGESTED_FILES, [
        ledger("f1", "b1", "ingested", "readings_long", 20, 17, 2, 1, 10),
        ledger("f2", "b1", "rejected", None, 0, 0, 0, 0, 10)]))
    quarantined = lambda n, reason: {"source_file": "f1.csv", "file_sha256": "f1", "row_number": n, "reason": reason,  # noqa: E731
                                     "ingested_at": at(10)}
    lake.write_partition(lake_dir, "quarantine", "file", "f1", _table(schemas.QUARANTINE, [
        quarantined(3, "non-numeric value"), quarantined(7, "missing sensor_id")]))
    request = lambda rid, eq, status, priority, due_hours, evidence: {  # noqa: E731
        "request_id": rid, "equipment_id": eq, "status": status, "priority": priority, "due_by": at(due_hours),
        "evidence_alert_ids": evidence, "created_at": at(-24)}
    lake.write_dataset(lake_dir, "maintenance_requests", _table(schemas.MAINTENANCE_REQUESTS, [
        request("r1", "pump-1", "approved", 1, 12, "a1"),  # overdue by 12 h at the as-of time
        request("r2", "fan-2", "completed", 2, 1, None),  # closed: never overdue
        request("r3", "pump-1", "pending_approval", 3, 72, None),
        request("r4", "fan-2", "rejected", 2, 30, "a3;a2"),
    ]))
    lake.write_partition(lake_dir, "decisions", "file", "d1", _table(schemas.DECISIONS, [
        {"request_id": "r1", "decision": "approve", "decided_at": at(11)},
        {"request_id": "r4", "decision": "reject", "decided_at": at(12)}]))
    assignment = lambda rid, tech, start, end: {"request_id": rid, "technician_id": tech, "start": at(start), "end": at(end),  # noqa: E731
                                                "equipment_id": "pump-1", "priority": 1, "late": False, "planned_at": at(0)}
    lake.write_dataset(lake_dir, "technician_schedule", _table(schemas.TECHNICIAN_SCHEDULE, [
        assignment("r1", "t1", 32, 36), assignment("r3", "t2", 70, 74)]))
    forecast = lambda eq, as_of, rul, lower, upper, p7, beyond=False: {  # noqa: E731
        "equipment_id": eq, "as_of": as_of, "rul_hours": rul, "rul_lower_hours": lower, "rul_upper_hours": upper,
        "predicted_failure_at": None if rul is None else as_of + timedelta(hours=rul), "method": "trend_prophet",
        "p_fail_7d": p7, "p_fail_30d": p7, "beyond_horizon": beyond}
    lake.write_dataset(lake_dir, "failure_forecasts", _table(schemas.FAILURE_FORECASTS, [
        forecast("fan-2", at(12), 100.0, 50.0, 150.0, 0.8),
        forecast("pump-1", at(12), None, 720.0, None, 0.01, beyond=True),
        forecast("pump-1", at(-48), 10.0, 5.0, 20.0, 0.9),  # superseded by the newer one
        forecast("pump-1", at(30), 5.0, 2.0, 8.0, 0.99),  # made after the as-of time
    ]))
    return lake_dir


RUNS = pd.DataFrame([
    {"run_id": "b1", "job": "ingest_landing", "status": "SUCCESS", "started_at": at(10), "ended_at": at(10) + timedelta(seconds=10),
     "ingest_seconds": 4.0},
    {"run_id": "x1", "job": "assets: alerts", "status": "FAILURE", "started_at": at(11), "ended_at": at(11) + timedelta(seconds=3),
     "ingest_seconds": None},
    {"run_id": "x0", "job": "assets: alerts", "status": "SUCCESS", "started_at": at(-5), "ended_at": at(-5) + timedelta(seconds=3),
     "ingest_seconds": None},  # the day before
])


def sample_plant(folder: Path, days: float = 9, equipment: int = 3, interval: int = 600) -> DataRoot:
    """The synthetic plant (a few equipment, readings every 10 min, failures included) through the real
    pipeline once (ending 2026-01-25), in `folder`."""
    from smart_maintenance.runner import run_once
    from smart_maintenance.simulation import PlantSpec, simulate_plant

    root = DataRoot(folder).ensure()
    end = datetime(2026, 1, 25, tzinfo=timezone.utc)
    simulate_plant(root.root, PlantSpec(end=end, days=days, n_equipment=equipment, interval_seconds=interval, seed=7))
    summary = run_once(root, min_file_age_seconds=0)
    assert summary.success, summary.runs
    return root
