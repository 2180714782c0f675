"""Each stage check fails on a broken frame and passes on a good one."""

import numpy as np
import pandas as pd
import pytest

from smart_maintenance.detection import (
    build_alerts,
    check_alert_rate,
    check_drift,
    check_no_credible_from_faulty_sensor,
    check_scored_once,
    check_scores_in_range,
    fit_models,
    score_readings,
    validate_alerts,
)
from smart_maintenance_tests.detection.frames import at, plant, split


@pytest.fixture(scope="module")
def run():
    frame = plant()
    frame.loc[at(frame, "current", 1200, 1240), "value"] = 61.234  # stuck
    history, new = split(frame, 1000)
    scores = score_readings(new, history, fit_models(history, as_of=history["timestamp"].max()))
    return new, scores, validate_alerts(build_alerts(scores), scores)


def test_scored_once(run):
    new, scores, _ = run
    assert check_scored_once(new, scores)[0]
    passed, meta = check_scored_once(new, pd.concat([scores, scores.iloc[:3]]))
    assert not passed and meta["duplicated"] == 3
    passed, meta = check_scored_once(new, scores.iloc[5:])
    assert not passed and meta["missing"] == 5


def test_scores_in_range(run):
    _, scores, _ = run
    assert check_scores_in_range(scores)[0]
    broken = scores.copy()
    broken.loc[0, "anomaly_score"] = 1.5
    broken.loc[1, "score_gap"] = np.nan
    passed, meta = check_scores_in_range(broken)
    assert not passed and meta["out_of_range"] == {"anomaly_score": 1, "score_gap": 1}


def test_alert_rate(run):
    _, scores, alerts = run
    assert check_alert_rate(alerts, scores)[0]
    storm = pd.concat([alerts.iloc[:1]] * 50, ignore_index=True)
    passed, meta = check_alert_rate(storm, scores)
    assert not passed
    assert meta["top_offenders"][0] == {"equipment_id": "pump-1", "day": "2024-01-01", "alerts": 50}


def test_no_credible_alert_from_faulty_sensor(run):
    _, _, alerts = run
    assert alerts["sensor_fault"].any()
    assert check_no_credible_from_faulty_sensor(alerts)[0]
    broken = alerts.copy()
    broken.loc[broken["sensor_fault"], "validation_status"] = "credible"
    passed, meta = check_no_credible_from_faulty_sensor(broken)
    assert not passed and meta["violations"] >= 1
    listed = pd.DataFrame({"equipment_id": ["pump-1"], "sensor_id": ["current"]})
    assert check_no_credible_from_faulty_sensor(alerts.assign(validation_status="credible", sensor_fault=False), listed)[0] is False


def test_drift():
    frame = plant(n=600)
    reference, recent = split(frame, 300)
    assert check_drift(reference, recent)[0]
    moved = recent.copy()
    moved.loc[moved["sensor_id"] == "temperature", "value"] += 3.0
    passed, meta = check_drift(reference, moved)
    assert not passed
    assert [(d["equipment_id"], d["sensor_id"]) for d in meta["drifted"]] == [("pump-1", "temperature")]
