"""Episodes: merging, stable ids, severity."""

from datetime import timedelta

import numpy as np
import pandas as pd

from smart_maintenance.detection import DetectionConfig, alert_id, build_alerts
from smart_maintenance.detection.config import AlertConfig
from smart_maintenance_tests.detection.frames import START


def scores_for(anomalous_minutes, sensor="s1", equipment="e1", n=60, score=0.7):
    t = START + pd.to_timedelta(np.arange(n), unit="min")
    hit = np.isin(np.arange(n), anomalous_minutes)
    return pd.DataFrame(
        {
            "timestamp": t,
            "equipment_id": equipment,
            "sensor_id": sensor,
            "value": 1.0,
            "anomaly_score": np.where(hit, score, 0.1),
            "is_anomaly": hit,
            "detectors_fired": np.where(hit, "deviation", ""),
        }
    )


def test_consecutive_anomalies_merge_and_gaps_split():
    scores = scores_for([10, 11, 12, 14, 15, 30, 31])
    alerts = build_alerts(scores, DetectionConfig(alerts=AlertConfig(max_gap=timedelta(minutes=3))))
    assert len(alerts) == 2
    first = alerts.iloc[0]
    assert first["started_at"] == START + pd.Timedelta(minutes=10)
    assert first["ended_at"] == START + pd.Timedelta(minutes=15)
    assert first["n_readings"] == 5
    assert first["detectors_fired"] == "deviation"
    wide = build_alerts(scores, DetectionConfig(alerts=AlertConfig(max_gap=timedelta(minutes=20))))
    assert len(wide) == 1


def test_sensors_never_share_an_episode():
    scores = pd.concat([scores_for([5, 6], "s1"), scores_for([5, 6], "s2")], ignore_index=True)
    alerts = build_alerts(scores)
    assert sorted(alerts["sensor_id"]) == ["s1", "s2"]


def test_alert_ids_are_stable_across_reruns_and_row_order():
    scores = pd.concat([scores_for([5, 6, 7], "s1"), scores_for([20, 21], "s2")], ignore_index=True)
    a = build_alerts(scores)
    b = build_alerts(scores.sample(frac=1.0, random_state=1))
    assert a["alert_id"].tolist() == b["alert_id"].tolist()
    assert a["alert_id"].iloc[0] == alert_id("e1", "s1", START + pd.Timedelta(minutes=5))
    assert a["alert_id"].nunique() == 2


def test_open_episode_is_marked():
    alerts = build_alerts(scores_for([57, 58, 59]))
    assert alerts["is_open"].tolist() == [True]


def test_severity_grows_with_score_persistence_and_criticality():
    short_low = build_alerts(scores_for([5], score=0.55))
    assert short_low["severity"].iloc[0] == "low"
    long_high = build_alerts(scores_for(list(range(5, 25)), score=0.97))
    assert long_high["severity"].iloc[0] == "critical"
    medium = scores_for(list(range(5, 25)), score=0.7)  # 1 (score) + 1 (persistence)
    assert build_alerts(medium)["severity"].iloc[0] == "high"
    low_crit = pd.DataFrame({"equipment_id": ["e1"], "criticality": ["low"]})
    assert build_alerts(medium, equipment=low_crit)["severity"].iloc[0] == "medium"


def test_no_anomalies_no_alerts():
    assert build_alerts(scores_for([])).empty
