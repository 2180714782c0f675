"""Detection inside the ingest run: a micro-batch's days scored and its alerts refreshed by the run that
ingested it (issue 8: one run launch per batch instead of three).

Left to the automation, a batch costs three runs one after the other (ingest, then `anomaly_scores` of
its days, then `alerts`: an unpartitioned asset is never requested with daily partitions), each waiting
for an automation tick and starting a fresh process. When the days' weekly models are current, the
ingest run does the same work with the same functions, and reports it as materializations and check
evaluations of those assets: the automation sees them updated after their inputs and has nothing left
to do. Days whose week has no model yet, or whose model the batch makes stale (its readings fall in the
model's training weeks), and batches carrying maintenance events (which reset baselines and refit
models) are left to the automation and the model sensor, as before.
"""

from collections.abc import Iterable

import dagster as dg

from smart_maintenance.config import DataRoot
from smart_maintenance.defs.detection.assets import TRAINING_WEEKS, refresh_alerts, score_days
from smart_maintenance.defs.detection.sensors import weeks_to_refit
from smart_maintenance.defs.staleness import latest_ids
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.retraining import contiguous_ranges, week_of, weeks_to_fit


def days_to_score_inline(instance: dg.DagsterInstance, root: DataRoot, days: Iterable[str], kinds: Iterable[str]) -> list[str]:
    """The batch's days whose week has a model this batch leaves current (none if it brings maintenance events)."""
    days = sorted(set(days))
    if not days or "maintenance_events" in kinds:
        return []
    models = latest_ids(instance, "detection_models")
    readings = latest_ids(instance, "sensor_readings")
    newest = max([*readings.values(), *models.values(), 0]) + 1
    readings |= dict.fromkeys(days, newest)  # this batch's days, newer than any model
    stale = set(weeks_to_fit(readings, models, TRAINING_WEEKS))
    stale |= weeks_to_refit(instance, root=root)
    return [d for d in days if week_of(d) in models and week_of(d) not in stale]


def detect_inline(root: DataRoot, config: DetectionConfig, days: list[str]) -> list:
    """Score `days` and refresh the alerts; the events reporting it, in the order a run of those assets
    would log them. If a blocking check of the scores fails, the alerts are not refreshed (as in a run
    of both assets) and the automation takes over from there."""
    events: list = []
    for first, last in contiguous_ranges(days):
        metadata, checks = score_days(root, config, [d for d in days if first <= d <= last])
        events += [dg.AssetMaterialization("anomaly_scores", partition=d, metadata={**metadata, "inline": True})
                   for d in days if first <= d <= last]
        events += [c.evaluation() for c in checks]
        if not all(c.passed for c in checks):
            return events
    metadata, checks = refresh_alerts(root, config)
    events.append(dg.AssetMaterialization("alerts", metadata={**metadata, "inline": True}))
    events += [c.evaluation() for c in checks]
    return events
