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


def test_equipment_level_fault_from_csv_matches_alerts_of_any_sensor(tmp_path):
    """A ground-truth row with an empty sensor_id (read from CSV as NaN) is an equipment-level fault."""
    import pandas as pd

    from smart_maintenance.detection.synthetic import judge_against_truth

    (tmp_path / "faults.csv").write_text("equipment_id,sensor_id,fault_type,start,end\n"
                                         "pump-1,,degradation,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z\n"
                                         "pump-1,current,spike,2025-12-31T01:00:00Z,2025-12-31T01:01:00Z\n")
    faults = pd.read_csv(tmp_path / "faults.csv")
    t = pd.Timestamp("2026-01-01T12:00:00Z")
    scores = pd.DataFrame({"timestamp": [t], "equipment_id": ["pump-1"], "sensor_id": ["vibration"],
                           "is_anomaly": [True]})
    alerts = pd.DataFrame({"equipment_id": ["pump-1"], "sensor_id": ["vibration"], "started_at": [t], "ended_at": [t],
                           "validation_status": ["credible"]})
    result = judge_against_truth(scores, alerts, faults, since=pd.Timestamp("2025-12-30T00:00:00Z"))
    assert result["event"]["faults"] == 2 and result["event"]["detected"] == 1 and result["point"]["tp"] == 1
