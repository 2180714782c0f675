"""Lake datasets written by ingestion, and the reference data assets.

`sensor_readings` and its siblings are filled by the `ingest_landing` job (launched by the landing
sensor, the micro-batch schedule or `smart-maintenance run`): which daily partitions a batch touches
is only known once its files are read, so the job reports a materialization for exactly those
partitions, and downstream automation recomputes only them.
"""


import dagster as dg

from smart_maintenance import lake, schemas
from smart_maintenance.defs.metadata import OWNERS, column_schema, table_metadata
from smart_maintenance.defs.partitions import daily
from smart_maintenance.defs.resources import DataRootResource
from smart_maintenance.reference import read_reference

GROUP = "ingestion"
INGEST_JOB = "ingest_landing"


def _lake_spec(name: str, description: str, **kwargs) -> dg.AssetSpec:
    return dg.AssetSpec(
        name,
        description=description,
        group_name=GROUP,
        kinds={"parquet", "duckdb"},
        owners=OWNERS,
        metadata={"dagster/column_schema": column_schema(schemas.DATASETS[name]), "lake_path": f"lake/{name}/",
                  "written_by_job": INGEST_JOB},
        **kwargs,
    )


sensor_readings = _lake_spec(
    "sensor_readings",
    "Every valid reading from the landing files: one row per (equipment_id, sensor_id, timestamp), UTC, daily "
    "partitions. Duplicates across files are resolved by the rule in ingest/merge.py (the last ingested value wins).",
    partitions_def=daily,
    deps=["equipment", "sensors"],
)
quarantine = _lake_spec(
    "quarantine", "Rows that could not be used, with the source file, row number and the reason. Nothing is dropped silently.")
ingested_files = _lake_spec(
    "ingested_files", "The ingestion ledger: one row per landing file handled (ingested, duplicate or rejected) with its row counts.")
maintenance_events = _lake_spec(
    "maintenance_events", "Maintenance and failure events from maintenance-event files (failures, repairs, inspections...).",
    deps=["equipment"])
decisions = _lake_spec("decisions", "Human decisions on maintenance requests dropped as decision files.")

INGESTED = [sensor_readings, quarantine, ingested_files, maintenance_events, decisions]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(name, description=f"Reference data from reference/{name}.csv (edited by users), cast to its schema.",
                     group_name="reference", kinds={"csv", "parquet"}, owners=OWNERS,
                     metadata={"dagster/column_schema": column_schema(schemas.DATASETS[name])})
        for name in ("equipment", "sensors", "technicians")
    ],
)
def reference_data(data_root: DataRootResource):
    """Reference data from `reference/*.csv`, copied into the lake so that SQL users find it beside the readings."""
    root = data_root.get()
    for name in ("equipment", "sensors", "technicians"):
        table = read_reference(root.reference, name)
        lake.write_partition(root.lake, name, "version", "current", table)
        yield dg.MaterializeResult(asset_key=name, metadata=table_metadata(table))
