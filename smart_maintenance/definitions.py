"""The one Definitions object: what `dagster dev`, the daemon and `smart-maintenance run` all load."""

import dagster as dg

from smart_maintenance.defs.ingestion.assets import INGESTED, reference_data
from smart_maintenance.defs.ingestion.checks import CHECKS
from smart_maintenance.defs.ingestion.jobs import ingest_landing_job
from smart_maintenance.defs.ingestion.schedules import SCHEDULES
from smart_maintenance.defs.ingestion.sensors import SENSORS
from smart_maintenance.defs.resources import default_resources

defs = dg.Definitions(
    assets=[*INGESTED, reference_data],
    asset_checks=CHECKS,
    jobs=[ingest_landing_job],
    sensors=SENSORS,
    schedules=SCHEDULES,
    resources=default_resources(),
)
