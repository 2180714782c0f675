"""Scoring a micro-batch of readings: every detector's score, the ensemble, the decision.

Calibration: every detector yields a ratio r (raw statistic / its reference; r = 1 at the decision
boundary, see detectors.py and multivariate.py) mapped to r / (1 + r) in [0, 1). A score of 0.5 thus
means "at the boundary" for every detector and every sensor, which is what makes scores comparable
across sensors; `anomaly_score` is the largest detector score, `is_anomaly` compares it with the
threshold of the reading's sensor type (default 0.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.detectors import UNIVARIATE_DETECTORS, univariate_ratios
from smart_maintenance.detection.models import Models
from smart_maintenance.detection.multivariate import multivariate_ratio
from smart_maintenance.detection.readings import KEY, READING_COLUMNS, prepare_readings
from smart_maintenance.detection.resets import judge_moves, recentre, row_versions, segments

DETECTORS = UNIVARIATE_DETECTORS + ("multivariate",)
SCORE_COLUMNS = [f"score_{d}" for d in DETECTORS]


def score_readings(
    new: pd.DataFrame,
    history: pd.DataFrame | None,
    models: Models,
    config: DetectionConfig | None = None,
    rebaselines: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Scores for the rows of `new` only, one row per reading, sorted by sensor then time.

    history: earlier readings of the same sensors (any amount; only the last
    `config.lookback_readings` per sensor are used). Causal: a reading's score depends only on readings
    up to it. Scoring a period in one call, or in consecutive calls each given the earlier rows as
    history, gives identical results, provided batches are cut at a timestamp (no timestamp shared
    between a batch and its history).

    rebaselines: the baselines re-learned after repairs that apply to this model (resets.fit_rebaselines
    of resets.applicable_resets): from a reset on, a sensor is judged against its new normal. Rows of a
    re-baselined segment carry a `model_version` of their own.

    Columns: the ANOMALY_SCORES schema (timestamp, equipment_id, sensor_id, value, sensor_type,
    anomaly_score, is_anomaly, one score_<detector> per detector, detectors_fired, model_version).
    """
    config = config or DetectionConfig()
    new_frame = prepare_readings(new)
    new_frame["_new"] = True
    parts = [new_frame]
    if history is not None and len(history):
        past = prepare_readings(history)
        past = past.groupby(KEY, sort=False).tail(config.lookback_readings)
        past["_new"] = False
        parts.insert(0, past)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else new_frame
    frame = frame.sort_values(["equipment_id", "sensor_id", "timestamp"], kind="stable").reset_index(drop=True)

    if rebaselines is not None and len(rebaselines):
        rebaselines = judge_moves(rebaselines, models.baselines, config)
    seg = segments(frame, rebaselines)
    ratios = univariate_ratios(frame, models.baselines, config, seg)
    ratios["multivariate"] = np.full(len(frame), np.nan)
    if models.equipment:
        for equipment_id, idx in frame.groupby("equipment_id", sort=False).indices.items():
            model = models.equipment.get(str(equipment_id))
            if model is not None:
                part, hidden = frame.iloc[idx], None
                if seg is not None:
                    fitted = models.baselines[models.baselines["equipment_id"] == str(equipment_id)]
                    part, hidden = recentre(part, idx, model, seg, fitted.set_index("sensor_id")["center"])
                ratio = multivariate_ratio(part, model, config)
                if hidden is not None:
                    ratio[hidden] = np.nan  # warm-up after a repair: the joint normal is not known yet
                ratios["multivariate"][idx] = ratio

    keep = frame["_new"].to_numpy()
    out = frame.loc[keep, READING_COLUMNS].reset_index(drop=True)
    scores = np.column_stack([calibrate(ratios[d][keep]) for d in DETECTORS]) if len(out) else np.zeros((0, len(DETECTORS)))
    for j, d in enumerate(DETECTORS):
        out[f"score_{d}"] = scores[:, j]
    out["anomaly_score"] = scores.max(axis=1) if len(out) else np.zeros(0)
    threshold = _thresholds(out["sensor_type"], config)
    out["is_anomaly"] = out["anomaly_score"].to_numpy() >= threshold
    out["detectors_fired"] = _fired(scores, threshold)
    out["model_version"] = models.version if seg is None else row_versions(models.version, seg, len(frame))[keep]
    return out


def scored_versions(scores: pd.DataFrame, models: Models, rebaselines: pd.DataFrame | None = None) -> np.ndarray:
    """The `model_version` that `score_readings` gives each row of `scores` (sorted by sensor then time)
    with these models and re-baselines: what an earlier scoring is compared with before it is reused."""
    frame = prepare_readings(scores[["timestamp", "equipment_id", "sensor_id", "value"]])
    return row_versions(models.version, segments(frame, rebaselines), len(frame))


def calibrate(ratio: np.ndarray) -> np.ndarray:
    """r / (1 + r), clipped to [0, 1]; a detector that cannot judge a reading (NaN) scores 0."""
    r = np.nan_to_num(np.asarray(ratio, float), nan=0.0, posinf=1e12)
    r = np.maximum(r, 0.0)
    return r / (1.0 + r)


def _thresholds(sensor_type: pd.Series, config: DetectionConfig) -> np.ndarray:
    if not config.scoring.threshold_by_sensor_type:
        return np.full(len(sensor_type), config.scoring.threshold)
    return np.array([config.threshold_for(t) for t in sensor_type], dtype=float)


def _fired(scores: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """';'-joined names of the detectors at or above the threshold ('' when none)."""
    out = np.full(len(scores), "", dtype=object)
    hits = scores >= threshold[:, None]
    rows = np.flatnonzero(hits.any(axis=1))
    if len(rows):
        patterns = hits[rows] @ (1 << np.arange(len(DETECTORS)))
        names = {p: ";".join(d for j, d in enumerate(DETECTORS) if p >> j & 1) for p in np.unique(patterns)}
        out[rows] = [names[p] for p in patterns]
    return out
