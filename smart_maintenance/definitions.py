"""The one Definitions object: what `dagster dev`, the daemon and `smart-maintenance run` all load."""

import dagster as dg

from smart_maintenance.defs.detection.assets import ASSETS as DETECTION_ASSETS
from smart_maintenance.defs.detection.assets import CHECKS as DETECTION_CHECKS
from smart_maintenance.defs.detection.assets import drift_check_job
from smart_maintenance.defs.detection.resources import DetectionResource
from smart_maintenance.defs.detection.sensors import model_sensor
from smart_maintenance.defs.executor import executor_from_env
from smart_maintenance.defs.forecasting.assets import ASSETS as FORECASTING_ASSETS
from smart_maintenance.defs.ingestion.assets import INGESTED, reference_data
from smart_maintenance.defs.ingestion.checks import CHECKS
from smart_maintenance.defs.ingestion.jobs import ingest_landing_job
from smart_maintenance.defs.ingestion.schedules import SCHEDULES
from smart_maintenance.defs.ingestion.sensors import SENSORS
from smart_maintenance.defs.maintenance import ASSETS as MAINTENANCE_ASSETS
from smart_maintenance.defs.maintenance import CHECKS as MAINTENANCE_CHECKS
from smart_maintenance.defs.maintenance import JOBS as MAINTENANCE_JOBS
from smart_maintenance.defs.maintenance import RESOURCES as MAINTENANCE_RESOURCES
from smart_maintenance.defs.reporting.assets import ASSETS as REPORTING_ASSETS
from smart_maintenance.defs.reporting.assets import JOBS as REPORTING_JOBS
from smart_maintenance.defs.reporting.assets import SCHEDULES as REPORTING_SCHEDULES
from smart_maintenance.defs.resources import DataRootResource, IngestSettingsResource

micro_batch_automation = dg.AutomationConditionSensorDefinition(
    "micro_batch_automation", target=dg.AssetSelection.all(), minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Declarative automation: recomputes the partitions a micro-batch touched, then what depends on them.",
)


def build_defs(home: str | None = None) -> dg.Definitions:
    """The project's Definitions; `home` overrides the data root (default: SMART_MAINTENANCE_HOME)."""
    data_root = DataRootResource(home=home) if home else DataRootResource()
    return dg.Definitions(
        assets=[*INGESTED, reference_data, *DETECTION_ASSETS, *FORECASTING_ASSETS, *MAINTENANCE_ASSETS, *REPORTING_ASSETS],
        asset_checks=[*CHECKS, *DETECTION_CHECKS, *MAINTENANCE_CHECKS],
        jobs=[ingest_landing_job, drift_check_job, *MAINTENANCE_JOBS, *REPORTING_JOBS],
        sensors=[*SENSORS, model_sensor, micro_batch_automation],
        schedules=[*SCHEDULES, *REPORTING_SCHEDULES],
        # In the run's own process by default; on Celery workers with SMART_MAINTENANCE_EXECUTOR=celery.
        executor=executor_from_env(),
        resources={"data_root": data_root, "ingest_settings": IngestSettingsResource(), "detection": DetectionResource(),
                   **MAINTENANCE_RESOURCES},
    )


defs = build_defs()
