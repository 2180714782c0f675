"""Shared by the pipeline tests of this folder: one small scored plant with its next micro-batch waiting."""

from __future__ import annotations

from pathlib import Path

import pytest

from smart_maintenance import lake
from smart_maintenance.benchmarking.pipeline import END, continuation, plant
from smart_maintenance.config import DataRoot
from smart_maintenance.runner import run_once

N_EQUIPMENT = 3
# How to order a lake dataset's rows so two lakes can be compared row for row.
ORDER_BY = {"anomaly_scores": "equipment_id, sensor_id, timestamp", "alerts": "alert_id",
            "equipment_health": "equipment_id, date", "failure_forecasts": "equipment_id, date",
            "maintenance_requests": "request_id", "technician_schedule": "request_id", "notification_outbox": "message_key"}


def dataset(root: DataRoot, name: str):
    """A lake dataset as one frame, in ORDER_BY's order."""
    return lake.connect().sql(f"SELECT * FROM {lake.scan_sql(root.lake, name)} ORDER BY {ORDER_BY[name]}").df()


@pytest.fixture(scope="session")
def scored_plant(tmp_path_factory) -> Path:
    """A plant with its models, scores and alerts, and a next micro-batch (60 minutes) in landing/."""
    base = tmp_path_factory.mktemp("inline")
    root = DataRoot(base / "plant")
    plant(root.root, 2_000, N_EQUIPMENT)
    summary = run_once(DataRoot(root.root).ensure(), min_file_age_seconds=0)
    assert summary.success and [step for step, _, _ in summary.runs].count("drift check") == 1
    continuation(root.root, "next.csv", 60, N_EQUIPMENT, END, base)
    return root.root
