"""Alerts: episodes of anomalous readings of one sensor, with a stable id and a severity.

Anomalous readings of a sensor closer than `max_gap` to the previous anomalous one share an episode.
`alert_id` hashes equipment, sensor and episode start, so re-running on the same scores gives the same
ids. Severity adds points: peak score (one per level passed in `score_levels`), persistence (one when
the episode has `persistent_readings` readings) and equipment criticality (-1..+2); 0 or less is low,
1 medium, 2 high, 3 and more critical.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.readings import KEY

SEVERITIES = ("low", "medium", "high", "critical")
ALERT_COLUMNS = [
    "alert_id", "equipment_id", "sensor_id", "started_at", "ended_at", "severity", "n_readings",
    "peak_score", "mean_score", "detectors_fired", "is_open",
]  # fmt: skip


def build_alerts(scores: pd.DataFrame, config: DetectionConfig | None = None, equipment: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per episode in `scores` (output of score_readings).

    equipment: optional reference with equipment_id, criticality (low/medium/high/critical).
    `is_open` marks an episode still anomalous at the sensor's last scored reading: it may grow.
    """
    config = config or DetectionConfig()
    if len(scores) == 0:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    s = scores.sort_values(KEY + ["timestamp"], kind="stable").reset_index(drop=True)
    last_of_sensor = s.groupby(KEY, sort=False)["timestamp"].transform("max")
    a = s[s["is_anomaly"].to_numpy()].copy()
    if len(a) == 0:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    a["_last"] = last_of_sensor[a.index].to_numpy()
    same_sensor = (a["equipment_id"].eq(a["equipment_id"].shift()) & a["sensor_id"].eq(a["sensor_id"].shift())).to_numpy()
    close = (a["timestamp"] - a["timestamp"].shift()).to_numpy() <= np.timedelta64(config.alerts.max_gap)
    a["_episode"] = np.cumsum(~(same_sensor & close))
    grouped = a.groupby("_episode", sort=True)
    alerts = grouped.agg(
        equipment_id=("equipment_id", "first"),
        sensor_id=("sensor_id", "first"),
        started_at=("timestamp", "min"),
        ended_at=("timestamp", "max"),
        n_readings=("timestamp", "size"),
        peak_score=("anomaly_score", "max"),
        mean_score=("anomaly_score", "mean"),
        _last=("_last", "first"),
    ).reset_index(drop=True)
    alerts["detectors_fired"] = grouped["detectors_fired"].agg(_union).to_numpy()
    alerts["is_open"] = alerts["ended_at"] == alerts["_last"]
    alerts["alert_id"] = [alert_id(e, s_, t) for e, s_, t in zip(alerts["equipment_id"], alerts["sensor_id"], alerts["started_at"])]
    alerts["severity"] = severity(alerts, config, equipment)
    return alerts[ALERT_COLUMNS]


def alert_id(equipment_id: str, sensor_id: str, started_at: pd.Timestamp) -> str:
    key = f"{equipment_id}|{sensor_id}|{pd.Timestamp(started_at).isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def severity(alerts: pd.DataFrame, config: DetectionConfig, equipment: pd.DataFrame | None = None) -> np.ndarray:
    cfg = config.alerts
    points = sum((alerts["peak_score"].to_numpy() >= level).astype(int) for level in cfg.score_levels)
    points = points + (alerts["n_readings"].to_numpy() >= cfg.persistent_readings)
    if equipment is not None and "criticality" in equipment:
        crit = dict(zip(equipment["equipment_id"].astype(str), equipment["criticality"].astype(str).str.lower()))
        points = points + np.array([cfg.criticality_points.get(crit.get(e, "medium"), 0) for e in alerts["equipment_id"]])
    return np.array(SEVERITIES, dtype=object)[np.clip(points, 0, len(SEVERITIES) - 1)]


def _union(fired: pd.Series) -> str:
    names = {n for cell in fired if cell for n in str(cell).split(";")}
    return ";".join(sorted(names))
