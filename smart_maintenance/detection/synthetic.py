"""Evaluation against a synthetic plant's ground truth, through the production code path.

Models are fitted once on the readings up to `train_until`; the rest is scored in micro-batches of
`batch` (each given the earlier readings as history, as the assets do), then episodes are built and
validated. Ground truth: one row per injected fault with equipment_id, a start and an end column
(start/started_at/fault_start/onset, end/ended_at/fault_end), optional sensor_id and fault_type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.detection.alerts import build_alerts
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.metrics import point_metrics
from smart_maintenance.detection.models import fit_models
from smart_maintenance.detection.readings import KEY, prepare_readings
from smart_maintenance.detection.resets import applicable_resets, baseline_resets, first_readings, fit_rebaselines
from smart_maintenance.detection.scoring import score_readings
from smart_maintenance.detection.validation import validate_alerts

_START = ("start", "started_at", "fault_start", "onset", "start_time")
_END = ("end", "ended_at", "fault_end", "end_time")


def evaluate_synthetic(
    readings: pd.DataFrame,
    ground_truth_faults: pd.DataFrame,
    config: DetectionConfig | None = None,
    train_until: pd.Timestamp | None = None,
    batch: pd.Timedelta = pd.Timedelta("1D"),
    grace: pd.Timedelta = pd.Timedelta("1h"),
    maintenance_events: pd.DataFrame | None = None,
    equipment: pd.DataFrame | None = None,
    sensors: pd.DataFrame | None = None,
) -> dict:
    """Returns {"point": point metrics over scored readings, "event": {faults, detected, event_recall,
    mean_delay_s, median_delay_s}, "false_alerts": {count, per_equipment_week, credible_count,
    credible_per_equipment_week}, "alerts_by_status", "per_fault": [...], "train_until", "readings_scored"}.

    train_until defaults to the first quarter of the time span (at most 7 days after the start).
    """
    config = config or DetectionConfig()
    frame = prepare_readings(readings)
    t0, t1 = frame["timestamp"].min(), frame["timestamp"].max()
    if train_until is None:
        train_until = t0 + min((t1 - t0) / 4, pd.Timedelta("7D"))
    train_until = pd.Timestamp(train_until)
    train_until = train_until.tz_localize("UTC") if train_until.tzinfo is None else train_until
    resets = baseline_resets(maintenance_events, config, sensors)
    models = fit_models(frame[frame["timestamp"] <= train_until], config, as_of=train_until, sensors=sensors, resets=resets)
    applicable = applicable_resets(resets, models)  # baselines restart after repairs, as in the assets
    rebaselines = fit_rebaselines(applicable, first_readings(frame, applicable, config), config) if len(applicable) else None

    history = frame[frame["timestamp"] <= train_until].groupby(KEY, sort=False).tail(config.lookback_readings)
    parts = []
    lo = train_until
    while lo < t1:
        hi = lo + batch
        new = frame[(frame["timestamp"] > lo) & (frame["timestamp"] <= hi)]
        if len(new):
            parts.append(score_readings(new, history, models, config, rebaselines))
            history = pd.concat([history, new]).groupby(KEY, sort=False).tail(config.lookback_readings)
        lo = hi
    scores = pd.concat(parts, ignore_index=True) if parts else score_readings(frame.iloc[:0], None, models, config)
    alerts = validate_alerts(build_alerts(scores, config, equipment), scores, maintenance_events, config, rebaselines)
    return {**judge_against_truth(scores, alerts, ground_truth_faults, since=train_until, grace=grace),
            "train_until": str(train_until)}


def judge_against_truth(scores: pd.DataFrame, alerts: pd.DataFrame, ground_truth_faults: pd.DataFrame,
                        since: pd.Timestamp, grace: pd.Timedelta = pd.Timedelta("1h")) -> dict:
    """Metrics of scores and alerts (as the assets write them) against injected faults, counting only
    readings, faults and alerts after `since` (the end of the warm-up)."""
    since = pd.Timestamp(since)
    scores = scores[scores["timestamp"] > since].reset_index(drop=True)
    alerts = alerts[alerts["ended_at"] > since].reset_index(drop=True)
    t1 = scores["timestamp"].max() if len(scores) else since
    faults = _faults(ground_truth_faults)
    faults = faults[faults["end"] > since].reset_index(drop=True)
    labels = _labels(scores, faults)
    per_fault, matched = _match(faults, alerts, grace)
    false = alerts[~alerts.index.isin(matched)]
    weeks = max((t1 - since) / pd.Timedelta("7D"), 1e-9)
    n_equipment = scores["equipment_id"].nunique() or 1
    detected = per_fault[per_fault["detected"]] if len(per_fault) else per_fault
    credible_false = false[false["validation_status"] == "credible"]
    by_type = (per_fault.groupby("fault_type")["detected"].agg(["size", "sum"]).rename(columns={"size": "faults", "sum": "detected"})
               .reset_index().to_dict("records") if len(per_fault) else [])
    return {
        "point": point_metrics(labels, scores["is_anomaly"].to_numpy()),
        "event": {
            "faults": len(per_fault),
            "detected": int(len(detected)),
            "event_recall": len(detected) / len(per_fault) if len(per_fault) else float("nan"),
            "mean_delay_s": float(detected["delay_s"].mean()) if len(detected) else float("nan"),
            "median_delay_s": float(detected["delay_s"].median()) if len(detected) else float("nan"),
            "by_fault_type": by_type,
        },
        "false_alerts": {
            "count": len(false),
            "per_equipment_week": len(false) / (n_equipment * weeks),
            "credible_count": len(credible_false),
            "credible_per_equipment_week": len(credible_false) / (n_equipment * weeks),
            "per_equipment_week_by_status": {k: v / (n_equipment * weeks)
                                             for k, v in false["validation_status"].value_counts().items()},
        },
        "alerts_by_status": alerts["validation_status"].value_counts().to_dict() if len(alerts) else {},
        "per_fault": per_fault.to_dict("records"),
        "readings_scored": len(scores),
        "equipment_weeks": round(n_equipment * weeks, 2),
    }


def _faults(gt: pd.DataFrame) -> pd.DataFrame:
    start = next((c for c in _START if c in gt), None)
    end = next((c for c in _END if c in gt), None)
    if start is None or end is None:
        raise ValueError(f"ground truth needs a start column {_START} and an end column {_END}")
    out = pd.DataFrame({"equipment_id": gt["equipment_id"].astype(str).to_numpy()})
    for name, col in (("start", start), ("end", end)):
        ts = pd.to_datetime(gt[col]).reset_index(drop=True)
        out[name] = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    # An empty sensor_id is an equipment-level fault (e.g. a degradation): None, never NaN (NaN is truthy).
    sensors = gt["sensor_id"] if "sensor_id" in gt else pd.Series([None] * len(gt))
    out["sensor_id"] = pd.Series([s if isinstance(s, str) and s else None for s in sensors], dtype=object)
    out["fault_type"] = gt["fault_type"].astype(str).to_numpy() if "fault_type" in gt else ""
    return out


def _labels(scores: pd.DataFrame, faults: pd.DataFrame) -> np.ndarray:
    y = np.zeros(len(scores), dtype=bool)
    for f in faults.itertuples(index=False):
        hit = (scores["equipment_id"] == f.equipment_id) & (scores["timestamp"] >= f.start) & (scores["timestamp"] <= f.end)
        if isinstance(f.sensor_id, str):
            hit &= scores["sensor_id"] == f.sensor_id
        y |= hit.to_numpy()
    return y


def _match(faults: pd.DataFrame, alerts: pd.DataFrame, grace: pd.Timedelta) -> tuple[pd.DataFrame, set]:
    """Per fault: detected (an alert of its equipment, and sensor if given, overlaps it) and delay."""
    rows, matched = [], set()
    for f in faults.itertuples(index=False):
        a = alerts[
            (alerts["equipment_id"] == f.equipment_id)
            & (alerts["ended_at"] >= f.start)
            & (alerts["started_at"] <= f.end + grace)
        ]
        matched.update(a.index)  # any alert during a fault window is not a false alert
        if isinstance(f.sensor_id, str):
            a = a[a["sensor_id"] == f.sensor_id]
        first = a["started_at"].min() if len(a) else None
        rows.append(
            {"equipment_id": f.equipment_id, "sensor_id": f.sensor_id, "fault_type": f.fault_type, "start": f.start,
             "end": f.end, "detected": first is not None,
             "delay_s": max((first - f.start).total_seconds(), 0.0) if first is not None else np.nan}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=["equipment_id", "sensor_id", "fault_type", "start", "end", "detected", "delay_s"]), matched
