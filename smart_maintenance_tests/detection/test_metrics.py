"""Evaluation metrics and the synthetic-plant evaluation driver."""

import numpy as np
import pandas as pd

from smart_maintenance.detection import evaluate_synthetic, event_detections, event_summary, point_metrics
from smart_maintenance_tests.detection.frames import START, at, plant


def test_point_metrics_follow_skab_definitions():
    m = point_metrics([1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 0, 1, 0, 0, 0, 0])
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 1, 4)
    assert m["far"] == 1 / 5 and m["mar"] == 1 / 3 and abs(m["f1"] - 2 / 3) < 1e-12


def test_event_recall_and_delay():
    t = pd.date_range(START, periods=10, freq="1s")
    d = event_detections(t, [0, 1, 1, 1, 0, 0, 1, 1, 0, 0], [0, 0, 0, 1, 0, 0, 0, 0, 0, 1])
    assert d["detected"].tolist() == [True, False]
    s = event_summary(d)
    assert s["event_recall"] == 0.5 and s["mean_delay_s"] == 2.0


def test_evaluate_synthetic_finds_injected_faults():
    frame = plant(n=3000, equipment=("pump-1", "pump-2"))
    frame.loc[at(frame, "vibration", 2000, 2200), "value"] += 5.0
    frame.loc[at(frame, "current", 2500, 2600, equipment="pump-2"), "value"] += 5.0
    truth = pd.DataFrame(
        {
            "equipment_id": ["pump-1", "pump-2"],
            "sensor_id": ["vibration", "current"],
            "start": [START + pd.Timedelta(minutes=2000), START + pd.Timedelta(minutes=2500)],
            "end": [START + pd.Timedelta(minutes=2199), START + pd.Timedelta(minutes=2599)],
        }
    )
    result = evaluate_synthetic(frame, truth, train_until=START + pd.Timedelta(minutes=1000), batch=pd.Timedelta("6h"))
    assert result["event"]["event_recall"] == 1.0
    assert result["event"]["mean_delay_s"] <= 30 * 60
    assert result["false_alerts"]["count"] == 0
    assert result["point"]["recall"] > 0.8 and np.isfinite(result["point"]["far"])
