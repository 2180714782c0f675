"""The model sensor: fits the weekly detection models a week needs, and refits those whose training
readings changed. Anomaly scores wait for their week's model (automation condition), then follow."""

from datetime import timedelta

import dagster as dg

from smart_maintenance.defs.detection.assets import TRAINING_WEEKS, detection_models
from smart_maintenance.defs.staleness import latest_ids
from smart_maintenance.detection.retraining import contiguous_ranges, weeks_to_fit

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def models_to_fit(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """(first week, last week) ranges of models that are missing or older than their training data."""
    weeks = weeks_to_fit(latest_ids(instance, "sensor_readings"), latest_ids(instance, "detection_models"), TRAINING_WEEKS)
    return contiguous_ranges(weeks, step=timedelta(weeks=1))


def range_tags(first: str, last: str) -> dict[str, str]:
    return {RANGE_START: first, RANGE_END: last}


@dg.sensor(target=[detection_models], minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Fits the weekly detection model of every week holding readings, and refits a model "
                       "when the readings of its training weeks changed.")
def model_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    newest = max(latest_ids(context.instance, "sensor_readings").values(), default=0)
    requests = [
        dg.RunRequest(run_key=f"models-{first}-{last}-{newest}", asset_selection=[detection_models.key],
                      tags=range_tags(first, last))
        for first, last in models_to_fit(context.instance)
    ]
    return dg.SensorResult(run_requests=requests)
