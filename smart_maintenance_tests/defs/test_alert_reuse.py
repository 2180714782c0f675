"""Alerts refreshed for the equipment whose inputs changed only (defs/detection/reuse.py): the same
table as rebuilding every equipment's, whatever changed (new readings of one machine, a repair event, a
reference edit), and nothing rebuilt when nothing changed."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from smart_maintenance import lake
from smart_maintenance.benchmarking.pipeline import END, continuation, plant
from smart_maintenance.config import DataRoot
from smart_maintenance.defs.detection.assets import refresh_alerts
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.runner import instance_for, run_once

CONFIG = DetectionConfig()


def alerts(root: DataRoot) -> pd.DataFrame:
    return lake.read_table(lake.dataset_file(root.lake, "alerts")).to_pandas()


def rebuilt_from_scratch(root: DataRoot, tmp: Path) -> pd.DataFrame:
    """The alerts of a copy of `root` whose stored alerts (and so fingerprints) were removed."""
    copy = DataRoot(tmp / "scratch")
    shutil.copytree(root.root, copy.root)
    (lake.dataset_file(copy.lake, "alerts")).unlink()
    meta, _ = refresh_alerts(copy, CONFIG)
    assert meta["equipment_rebuilt"] == f"{len(meta_equipment(copy))} of {len(meta_equipment(copy))}"
    return alerts(copy)


def meta_equipment(root: DataRoot) -> list[str]:
    return [r[0] for r in lake.connect().execute(
        f"SELECT DISTINCT equipment_id FROM {lake.scan_sql(root.lake, 'anomaly_scores')} ORDER BY 1").fetchall()]


@pytest.fixture(scope="module")
def alerted_plant(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("reuse")
    root = DataRoot(base / "plant")
    plant(root.root, 3_000, 4)
    assert run_once(root.ensure(), min_file_age_seconds=0).success
    assert len(alerts(root)) > 0
    return root.root


@pytest.fixture
def root(alerted_plant, tmp_path) -> DataRoot:
    copy = DataRoot(tmp_path / "plant")
    shutil.copytree(alerted_plant, copy.root)
    return copy


def test_nothing_changed_nothing_rebuilt(root):
    before = alerts(root)
    meta, _ = refresh_alerts(root, CONFIG)
    assert meta["equipment_rebuilt"] == "0 of 4"
    pd.testing.assert_frame_equal(alerts(root), before)


def test_new_readings_of_one_machine_rebuild_its_alerts_only(root, tmp_path):
    continuation(root.root, "next.csv", 240, 4, END, tmp_path)
    path = root.landing / "next.csv"
    rows = pd.read_csv(path)
    one = sorted(rows["equipment_id"].unique())[0]
    rows[rows["equipment_id"] == one].to_csv(path, index=False)  # one machine's export
    before = alerts(root)
    assert run_once(root, min_file_age_seconds=0).success  # scored and alerted by the ingest run
    with instance_for(root) as instance:
        record = instance.fetch_materializations(dg.AssetKey("alerts"), limit=1).records[0]
        assert record.asset_materialization.metadata["equipment_rebuilt"].value == "1 of 4"
    meta, _ = refresh_alerts(root, CONFIG)
    assert meta["equipment_rebuilt"] == "0 of 4"  # the ingest run's refresh already stored the new fingerprint
    after = alerts(root)
    pd.testing.assert_frame_equal(after, rebuilt_from_scratch(root, tmp_path))
    others = lambda frame: frame[frame["equipment_id"] != one].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(others(after), others(before))


def test_a_repair_event_rebuilds_its_equipment(root, tmp_path):
    target = meta_equipment(root)[-1]
    first_alert = alerts(root).query("equipment_id == @target")["started_at"].min()
    at = (first_alert - timedelta(hours=1)) if pd.notna(first_alert) else END - timedelta(hours=12)
    (root.landing / "repair.csv").write_text(
        f"equipment_id,timestamp,event_type,notes\n{target},{at.isoformat()},corrective_repair,replaced bearing\n")
    assert run_once(root, min_file_age_seconds=0).success
    meta, _ = refresh_alerts(root, CONFIG)
    assert meta["equipment_rebuilt"] == "0 of 4"
    pd.testing.assert_frame_equal(alerts(root), rebuilt_from_scratch(root, tmp_path))


def test_an_edited_reference_row_rebuilds_that_equipment(root, tmp_path):
    path = root.reference / "equipment.csv"
    table = pd.read_csv(path, dtype=str)
    target = meta_equipment(root)[0]
    table.loc[table["equipment_id"] == target, "criticality"] = "critical"
    table.to_csv(path, index=False)
    meta, _ = refresh_alerts(root, CONFIG)
    assert meta["equipment_rebuilt"] == "1 of 4"
    pd.testing.assert_frame_equal(alerts(root), rebuilt_from_scratch(root, tmp_path))


def test_validation_is_given_only_the_scores_it_reads(root):
    """The scores validation reads (loading.validation_scores: the load sensors' rows and the rows in each
    alert's quality window, on the equipment-days holding an anomaly) give the verdicts that all those
    days' rows give, which is what the alerts were validated with before issue 8."""
    from smart_maintenance.defs.detection.loading import anomalies, validation_scores
    from smart_maintenance.detection import build_alerts, validate_alerts
    from smart_maintenance.detection.validation import rows_read

    found = build_alerts(anomalies(root, meta_equipment(root)), CONFIG)
    hot_days = lake.connect().sql(
        f"""WITH s AS (SELECT *, date FROM {lake.scan_sql(root.lake, 'anomaly_scores')}),
                 hot AS (SELECT DISTINCT equipment_id, date FROM s WHERE is_anomaly)
            SELECT s.* EXCLUDE (date) FROM s JOIN hot USING (equipment_id, date)""").to_arrow_table().to_pandas()
    read = validation_scores(root, *rows_read(found, CONFIG))
    assert 0 < len(read) < len(hot_days) / 2 and len(found) > 10
    pd.testing.assert_frame_equal(validate_alerts(found, read, None, CONFIG), validate_alerts(found, hot_days, None, CONFIG))
    assert found["equipment_id"].nunique() == len(meta_equipment(root))


def test_equipment_are_validated_in_groups_of_bounded_size():
    from smart_maintenance.defs.detection.loading import equipment_batches

    rows = pd.Series({"b": 600, "a": 500, "c": 2_500, "d": 100, "e": 900})
    assert equipment_batches(rows, 1_000) == [["a"], ["b"], ["c"], ["d", "e"]]
    assert equipment_batches(rows.iloc[:0], 1_000) == []
