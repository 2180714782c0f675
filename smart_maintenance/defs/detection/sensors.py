"""The model sensor: fits the weekly detection models a week needs, and refits those whose training
readings changed or whose repair events arrived since. Anomaly scores wait for their week's model
(automation condition), then follow: a refitted model makes its days stale."""

from datetime import timedelta

import dagster as dg

from smart_maintenance import storage
from smart_maintenance.config import DataRoot
from smart_maintenance.defs.detection.assets import RESETS_METADATA, ROOT_METADATA, TRAINING_WEEKS, detection_models
from smart_maintenance.defs.detection.loading import load_resets
from smart_maintenance.defs.detection.resources import DetectionResource
from smart_maintenance.defs.resources import DataRootResource
from smart_maintenance.defs.staleness import latest_id, latest_ids
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.resets import resets_fingerprint
from smart_maintenance.detection.retraining import contiguous_ranges, week_resets, weeks_to_fit

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def models_to_fit(
    instance: dg.DagsterInstance, root: DataRoot | None = None, detection: DetectionResource | None = None
) -> list[tuple[str, str]]:
    """(first week, last week) ranges of the weeks to fit (`weeks_to_refit`)."""
    return contiguous_ranges(sorted(weeks_to_refit(instance, root, detection)), step=timedelta(weeks=1))


def weeks_to_refit(
    instance: dg.DagsterInstance, root: DataRoot | None = None, detection: DetectionResource | None = None
) -> set[str]:
    """Weeks whose model is missing, older than its training data, or does not know a repair event of
    its week or training weeks (which resets baselines).

    root: the data root; by default the one the latest models were written to (their metadata)."""
    models = latest_ids(instance, "detection_models")
    weeks = set(weeks_to_fit(latest_ids(instance, "sensor_readings"), models, TRAINING_WEEKS))
    root = root or _root_of_models(instance)
    events = latest_id(instance, "maintenance_events")
    if root is not None and events >= 0:
        older = tuple(sorted((w, i) for w, i in models.items() if i < events and w not in weeks))
        weeks |= _weeks_with_new_resets(instance, root, events, older, (detection or DetectionResource()).config())
    return weeks


def _root_of_models(instance: dg.DagsterInstance) -> DataRoot | None:
    records = instance.fetch_materializations(dg.AssetKey("detection_models"), limit=1).records
    if not records:
        return None
    home = records[0].asset_materialization.metadata.get(ROOT_METADATA)
    return DataRoot(storage.location(home.value)) if home is not None else None


_CHECKED: dict[tuple, frozenset[str]] = {}  # the daemon asks every 30 s: answer again only when ids change


def _weeks_with_new_resets(
    instance: dg.DagsterInstance,
    root: DataRoot,
    events_id: int,
    older: tuple[tuple[str, int], ...],
    config: DetectionConfig,
) -> frozenset[str]:
    """Weeks fitted before the latest maintenance events whose resets (their training weeks' and their
    own) differ from those the fit knew."""
    if not older:
        return frozenset()
    key = (str(root.root), events_id, older, config.fingerprint())
    if key in _CHECKED:
        return _CHECKED[key]
    resets = load_resets(root, config)
    changed = set()
    for week, _ in older:
        # Only weeks with resets can have new ones (maintenance events are never deleted from the lake).
        now = resets_fingerprint(week_resets(resets, week, TRAINING_WEEKS))
        if now and now != _knew(instance, week):
            changed.add(week)
    if len(_CHECKED) > 32:
        _CHECKED.clear()
    _CHECKED[key] = frozenset(changed)
    return _CHECKED[key]


def _knew(instance: dg.DagsterInstance, week: str) -> str:
    """The resets fingerprint the latest fit of `week` recorded ('' if none or if it predates resets)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("detection_models"), asset_partitions=[week]), limit=1
    ).records
    if not records:
        return ""
    value = records[0].asset_materialization.metadata.get(RESETS_METADATA)
    return (value.value or {}).get(week, "") if value is not None else ""


def range_tags(first: str, last: str) -> dict[str, str]:
    return {RANGE_START: first, RANGE_END: last}


@dg.sensor(
    target=[detection_models],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fits the weekly detection model of every week holding readings, and refits a model "
    "when the readings of its training weeks changed or a repair event of its weeks arrived.",
)
def model_sensor(
    context: dg.SensorEvaluationContext, data_root: DataRootResource, detection: DetectionResource
) -> dg.SensorResult:
    newest = max(latest_ids(context.instance, "sensor_readings").values(), default=0)
    events = latest_id(context.instance, "maintenance_events")
    requests = [
        dg.RunRequest(
            run_key=f"models-{first}-{last}-{newest}-{events}",
            asset_selection=[detection_models.key],
            tags=range_tags(first, last),
        )
        for first, last in models_to_fit(context.instance, data_root.get(), detection)
    ]
    return dg.SensorResult(run_requests=requests)
