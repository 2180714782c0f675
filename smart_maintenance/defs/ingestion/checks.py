"""Asset checks on ingested data. The rules live in `ingest/quality.py`; each check reports the
numbers it measured. The ingest job evaluates them on the partitions each batch touched; running a
check from the UI judges the whole lake."""


from datetime import datetime, timezone

import dagster as dg

from smart_maintenance.defs.checks import Check
from smart_maintenance.defs.resources import DataRootResource
from smart_maintenance.ingest import quality
from smart_maintenance.ingest.quality import Verdict
from smart_maintenance.reference import read_reference

FRESHNESS_HOURS = 24.0


def to_result(verdict: Verdict, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=verdict.passed, severity=severity, description=verdict.description,
                               metadata=verdict.metadata)


def to_evaluation(asset: str, check: str, verdict: Verdict,
                  severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckEvaluation:
    return Check(asset, check, verdict.passed, verdict.metadata, severity, verdict.description).evaluation()


@dg.asset_check(asset="sensor_readings", description="Every partition has the contract's columns and types.")
def readings_schema(data_root: DataRootResource) -> dg.AssetCheckResult:
    return to_result(quality.schema_matches(data_root.get().lake))


@dg.asset_check(asset="sensor_readings", description="No two readings share (equipment_id, sensor_id, timestamp).")
def readings_keys_unique(data_root: DataRootResource) -> dg.AssetCheckResult:
    return to_result(quality.keys_unique(data_root.get().lake))


@dg.asset_check(asset="sensor_readings", description="Values are finite and inside each sensor's valid range.")
def readings_values_in_range(data_root: DataRootResource) -> dg.AssetCheckResult:
    root = data_root.get()
    return to_result(quality.values_in_range(root.lake, read_reference(root.reference, "sensors")))


@dg.asset_check(asset="sensor_readings", description=f"The newest reading is at most {FRESHNESS_HOURS:.0f} h old.")
def readings_fresh(data_root: DataRootResource) -> dg.AssetCheckResult:
    verdict = quality.fresh(data_root.get().lake, datetime.now(timezone.utc), FRESHNESS_HOURS)
    return to_result(verdict, dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset="ingested_files", description="rows read = kept + quarantined + duplicates, for every file.")
def rows_conserved(data_root: DataRootResource) -> dg.AssetCheckResult:
    return to_result(quality.rows_conserved(data_root.get().lake))


CHECKS = [readings_schema, readings_keys_unique, readings_values_in_range, readings_fresh, rows_conserved]
