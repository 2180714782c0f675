"""Each quality rule passes on good data and fails on data broken on purpose."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa

from smart_maintenance import lake, schemas
from smart_maintenance.ingest import quality
from smart_maintenance.ingest.batch import ingest_batch
from smart_maintenance.reference import read_reference
from smart_maintenance_tests.conftest import NOW, drop

CSV = "timestamp,equipment_id,sensor_id,value\n2026-02-28T10:00:00Z,pump-1,temp,40\n2026-02-28T10:01:00Z,pump-1,temp,41\n"


def ingested(root):
    drop(root, "a.csv", CSV)
    ingest_batch(root, ["a.csv"], now=NOW, batch_id="b1")
    return root


def rewrite_partition(root, mutate):
    table = lake.read_dataset(root.lake, "sensor_readings").drop_columns(["date"]).cast(schemas.SENSOR_READINGS)
    lake.write_partition(root.lake, "sensor_readings", "date", "2026-02-28", mutate(table))


def test_all_rules_pass_on_clean_ingestion(root):
    ingested(root)
    sensors = read_reference(root.reference, "sensors")
    for verdict in (quality.schema_matches(root.lake), quality.keys_unique(root.lake),
                    quality.values_in_range(root.lake, sensors), quality.rows_conserved(root.lake),
                    quality.fresh(root.lake, NOW, 24)):
        assert verdict.passed, verdict


def test_duplicate_keys_fail_uniqueness(root):
    ingested(root)
    rewrite_partition(root, lambda t: pa.concat_tables([t, t.slice(0, 1)]))
    verdict = quality.keys_unique(root.lake, ["2026-02-28"])
    assert not verdict.passed and verdict.metadata["duplicate_keys"] == 1


def test_wrong_type_fails_schema(root):
    ingested(root)
    rewrite_partition(root, lambda t: t.set_column(3, "value", t.column("value").cast(pa.float32())))
    verdict = quality.schema_matches(root.lake)
    assert not verdict.passed and verdict.metadata["mismatched_partitions"] == ["date=2026-02-28"]


def test_value_outside_range_fails(root):
    ingested(root)
    rewrite_partition(root, lambda t: t.set_column(3, "value", pa.array([40.0, 999.0])))
    verdict = quality.values_in_range(root.lake, read_reference(root.reference, "sensors"))
    assert not verdict.passed and verdict.metadata["out_of_range"] == 1


def test_stale_readings_fail_freshness(root):
    ingested(root)
    verdict = quality.fresh(root.lake, NOW + timedelta(days=3), 24)
    assert not verdict.passed and verdict.metadata["age_hours"] > 24


def test_lost_row_fails_conservation(root):
    ingested(root)
    ledger = lake.read_dataset(root.lake, "ingested_files").drop_columns(["batch"])
    broken = ledger.set_column(ledger.schema.get_field_index("rows_kept"), "rows_kept", pa.array([1], pa.int64()))
    lake.write_partition(root.lake, "ingested_files", "batch", "b1", broken.cast(schemas.INGESTED_FILES))
    verdict = quality.rows_conserved(root.lake)
    assert not verdict.passed and verdict.metadata["files_broken"] == ["a.csv"]


def test_rules_on_an_empty_lake(root):
    assert quality.keys_unique(root.lake).passed
    assert not quality.fresh(root.lake, NOW, 24).passed
    assert quality.rows_conserved(root.lake).passed
