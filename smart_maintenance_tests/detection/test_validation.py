"""Validation status and reasons of alerts."""

import numpy as np
import pandas as pd

from smart_maintenance.detection import build_alerts, fit_models, score_readings, validate_alerts
from smart_maintenance_tests.detection.frames import START, at, plant, split


def _run(frame, maintenance=None):
    history, new = split(frame, 1000)
    models = fit_models(history, as_of=history["timestamp"].max())
    scores = score_readings(new, history, models)
    return validate_alerts(build_alerts(scores), scores, maintenance), scores


def test_stuck_sensor_is_a_suspected_sensor_fault():
    frame = plant()
    frame.loc[at(frame, "current", 1200, 1240), "value"] = 61.234
    alerts, _ = _run(frame)
    stuck = alerts[alerts["sensor_id"] == "current"]
    assert len(stuck) >= 1
    row = stuck.iloc[0]
    assert row["validation_status"] == "suspected_false_positive"
    assert row["sensor_fault"]
    assert "sensor suspect" in row["validation_reasons"] and "stuck" in row["validation_reasons"]


def test_corroborated_multi_sensor_episode_is_credible():
    frame = plant()
    for sensor, delta in (("vibration", 5.0), ("current", 5.0)):
        frame.loc[at(frame, sensor, 1200, 1300), "value"] += delta
    alerts, _ = _run(frame)
    vib = alerts[alerts["sensor_id"] == "vibration"].sort_values("n_readings").iloc[-1]
    assert vib["validation_status"] == "credible"
    assert "corroborated by" in vib["validation_reasons"] and "current" in vib["corroborating_sensors"]
    assert "persistent" in vib["validation_reasons"]


def test_episode_right_after_maintenance_says_so():
    frame = plant()
    for sensor, delta in (("vibration", 5.0), ("current", 5.0)):
        frame.loc[at(frame, sensor, 1200, 1300), "value"] += delta
    maintenance = pd.DataFrame(
        {"equipment_id": ["pump-1"], "timestamp": [START + pd.Timedelta(minutes=1150)], "event_type": ["preventive_maintenance"]}
    )
    alerts, _ = _run(frame, maintenance)
    row = alerts[alerts["sensor_id"] == "vibration"].sort_values("n_readings").iloc[-1]
    assert row["validation_status"] == "needs_investigation"
    assert "after preventive_maintenance" in row["validation_reasons"]


def test_isolated_single_reading_is_a_suspected_false_positive():
    scores = pd.DataFrame(
        {
            "timestamp": [START, START + pd.Timedelta(minutes=1)],
            "equipment_id": "e1",
            "sensor_id": "s1",
            "value": [1.0, 1.0],
            "anomaly_score": [0.6, 0.1],
            "is_anomaly": [True, False],
            "detectors_fired": ["deviation", ""],
            "score_gap": [0.0, 0.0],
        }
    )
    alerts = validate_alerts(build_alerts(scores), scores)
    assert alerts["validation_status"].tolist() == ["suspected_false_positive"]
    assert "transient" in alerts["validation_reasons"].iloc[0]


def test_equipment_stop_is_an_operating_state_change_not_a_credible_fault():
    frame = plant()
    frame["sensor_type"] = frame["sensor_id"].map({"current": "current", "vibration": "vibration_rms", "temperature": "temperature"})
    typical = frame.loc[at(frame, "current", 0, 1200), "value"].median()
    stopped = at(frame, "current", 1200, 1300)
    frame.loc[stopped, "value"] = 0.01 * typical * (1 + 0.1 * np.sin(np.arange(stopped.sum())))  # no load
    frame.loc[at(frame, "vibration", 1200, 1300), "value"] *= 0.05
    alerts, _ = _run(frame)
    stop = alerts[(alerts["sensor_id"] == "current")].sort_values("n_readings").iloc[-1]
    assert stop["validation_status"] == "needs_investigation"
    assert "equipment stopped or starting up: current at idle" in stop["validation_reasons"]
    assert not (alerts["validation_status"] == "credible").any()


def test_one_off_blip_on_two_coupled_sensors_is_not_credible():
    rows = []
    for sensor in ("current", "power"):
        rows += [(START, sensor, 0.9, True, "rate_of_change"), (START + pd.Timedelta(minutes=1), sensor, 0.1, False, "")]
    scores = pd.DataFrame(rows, columns=["timestamp", "sensor_id", "anomaly_score", "is_anomaly", "detectors_fired"])
    scores = scores.assign(equipment_id="e1", value=1.0, score_gap=0.0)
    alerts = validate_alerts(build_alerts(scores), scores)
    assert alerts["validation_status"].tolist() == ["needs_investigation"] * 2
    assert all("corroborated by 1 other sensor" in r and "transient" in r for r in alerts["validation_reasons"])
