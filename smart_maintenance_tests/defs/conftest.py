"""Shared by the pipeline tests of this folder: one small scored plant with its next micro-batch waiting."""

from __future__ import annotations

from pathlib import Path

import pytest

from smart_maintenance.benchmarking.pipeline import END, continuation, plant
from smart_maintenance.config import DataRoot
from smart_maintenance.runner import run_once

N_EQUIPMENT = 3


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
