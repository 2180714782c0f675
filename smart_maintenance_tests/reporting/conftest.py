"""Fixtures of the report tests: the hand-made lake (fast, every number known) and the synthetic plant
run through the real pipeline once per test package (slow: ~25 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smart_maintenance.config import DataRoot
from smart_maintenance_tests.reporting.lakes import hand_made_lake, sample_plant


@pytest.fixture
def hand_lake(tmp_path: Path) -> Path:
    return hand_made_lake(tmp_path)


@pytest.fixture(scope="package")
def plant_root(tmp_path_factory: pytest.TempPathFactory) -> DataRoot:
    return sample_plant(tmp_path_factory.mktemp("plant") / "data")
