"""Anomaly detection, alerts and their validation: the functional core (no Dagster here).

Typical use (one micro-batch)::

    models = fit_models(history, config, as_of=now)                # when the caller decides to (re)fit
    scores = score_readings(new, history, models, config)          # rows of `new` only, causal
    alerts = build_alerts(scores, config, equipment)               # episodes with stable ids
    alerts = validate_alerts(alerts, scores, maintenance, config)  # status + reasons
    passed, metadata = check_scores_in_range(scores)               # stage checks

After a repair (resets.py): `fit_models(..., resets=baseline_resets(events, config))` learns from post-repair
readings, and `score_readings(..., rebaselines=fit_rebaselines(...))` judges a repaired sensor against its
new normal from the repair on.

Evaluation: `evaluate_skab(skab_dir)` and `evaluate_synthetic(readings, ground_truth_faults)`.
"""

from smart_maintenance.detection.alerts import alert_id, build_alerts
from smart_maintenance.detection.checks import (
    check_alert_rate,
    check_drift,
    check_no_credible_from_faulty_sensor,
    check_scored_once,
    check_scores_in_range,
)
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.metrics import event_detections, event_summary, point_metrics
from smart_maintenance.detection.models import Models, fit_models
from smart_maintenance.detection.scoring import DETECTORS, calibrate, score_readings
from smart_maintenance.detection.skab import evaluate_skab, load_experiment
from smart_maintenance.detection.synthetic import evaluate_synthetic
from smart_maintenance.detection.validation import STATUSES, validate_alerts

__all__ = [
    "DETECTORS", "STATUSES", "DetectionConfig", "Models", "alert_id", "build_alerts", "calibrate",
    "check_alert_rate", "check_drift", "check_no_credible_from_faulty_sensor", "check_scored_once",
    "check_scores_in_range", "evaluate_skab", "evaluate_synthetic", "event_detections", "event_summary",
    "fit_models", "load_experiment", "point_metrics", "score_readings", "validate_alerts",
]  # fmt: skip
