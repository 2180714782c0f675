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
    # Only anomalous readings form episodes: sorting them alone (stably) keeps the order they have among all.
    a = scores[KEY + ["timestamp", "anomaly_score", "detectors_fired"]][scores["is_anomaly"].to_numpy()]
    a = a.sort_values(KEY + ["timestamp"], kind="stable").reset_index(drop=True)
    if len(a) == 0:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    same_sensor = (a["equipment_id"].eq(a["equipment_id"].shift()) & a["sensor_id"].eq(a["sensor_id"].shift())).to_numpy()
    close = (a["timestamp"] - a["timestamp"].shift()).to_numpy() <= np.timedelta64(config.alerts.max_gap)
    new = ~(same_sensor & close)
    first = np.flatnonzero(new)  # an episode's rows: first[k] up to first[k + 1], in time order
    last = np.r_[first[1:], len(a)] - 1
    by_episode = a["anomaly_score"].groupby(np.cumsum(new))
    alerts = pd.DataFrame(
        {
            "equipment_id": a["equipment_id"].take(first).reset_index(drop=True),
            "sensor_id": a["sensor_id"].take(first).reset_index(drop=True),
            "started_at": a["timestamp"].take(first).reset_index(drop=True),
            "ended_at": a["timestamp"].take(last).reset_index(drop=True),
            "n_readings": last - first + 1,
            "peak_score": by_episode.max().to_numpy(),
            "mean_score": by_episode.mean().to_numpy(),
        }
    )
    last_of_sensor = scores.groupby(KEY, sort=False)["timestamp"].max()  # each sensor's last scored reading
    alerts["_last"] = last_of_sensor.reindex(pd.MultiIndex.from_frame(alerts[KEY])).reset_index(drop=True)
    fired = a["detectors_fired"].to_numpy(dtype=object)
    alerts["detectors_fired"] = np.array([_union(fired[i : j + 1]) for i, j in zip(first, last)], dtype=object)
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
