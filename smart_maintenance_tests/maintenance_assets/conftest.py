"""Fixtures of the maintenance asset tests: a small simulated plant run through the real pipeline once
per package (~20 s), and a private copy of it (lake and Dagster instance) for each test.

Whatever `run_once` already did with the maintenance assets (once runner.py calls their `refresh`) is
undone in the shared plant, so that every test starts from "alerts and forecasts, no request yet" and
chooses its own policy and sinks."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from smart_maintenance.config import DataRoot
from smart_maintenance.runner import instance_for, run_once
from smart_maintenance.simulation import PlantSpec, simulate_plant

MAINTENANCE_DATASETS = ("maintenance_requests", "request_audit", "request_inputs", "technician_schedule",
                        "unscheduled_requests", "notification_outbox", "notification_deliveries")
END = datetime(2026, 3, 2, tzinfo=timezone.utc)  # a Monday 00:00 UTC: the data's now is the last reading


@pytest.fixture(scope="package")
def plant(tmp_path_factory: pytest.TempPathFactory) -> DataRoot:
    root = DataRoot(tmp_path_factory.mktemp("maintenance_plant") / "data").ensure()
    simulate_plant(root.root, PlantSpec(end=END, days=10, n_equipment=6, interval_seconds=300, seed=11))
    summary = run_once(root, min_file_age_seconds=0)
    assert summary.success, summary.runs
    for dataset in MAINTENANCE_DATASETS:
        shutil.rmtree(root.lake / dataset, ignore_errors=True)
    shutil.rmtree(root.root / "notifications", ignore_errors=True)
    with instance_for(root) as instance:
        instance.wipe_assets([dg.AssetKey(k) for k in ("maintenance_requests", "technician_schedule", "notification_outbox")])
    return root


@pytest.fixture
def root(plant: DataRoot, tmp_path: Path) -> DataRoot:
    """This test's own copy of the plant after the pipeline ran (lake, archive and Dagster instance)."""
    shutil.copytree(plant.root, tmp_path / "data")
    return DataRoot(tmp_path / "data")
