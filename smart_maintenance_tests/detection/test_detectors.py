"""Each detector catches its kind of fault on hand-made series; clean noise raises nothing."""

import numpy as np
import pandas as pd
import pytest

from smart_maintenance.detection import DetectionConfig, fit_models, score_readings
from smart_maintenance_tests.detection.frames import START, at, plant, split

TRAIN = 1000


@pytest.fixture(scope="module")
def clean():
    return plant()


def _score(frame, config=None):
    history, new = split(frame, TRAIN)
    models = fit_models(history, config, as_of=history["timestamp"].max())
    return score_readings(new, history, models, config)


def test_clean_noise_raises_nothing(clean):
    scores = _score(clean)
    assert len(scores) == len(clean) - 3 * TRAIN
    assert not scores["is_anomaly"].any()
    assert scores["anomaly_score"].between(0, 1).all()


def test_spike_is_caught_at_the_reading(clean):
    frame = clean.copy()
    spike = at(frame, "current", 1200)
    frame.loc[spike, "value"] += 15.0
    scores = _score(frame)
    row = scores[(scores["sensor_id"] == "current") & (scores["timestamp"] == START + np.timedelta64(1200, "m"))].iloc[0]
    assert row["is_anomaly"]
    assert row["score_deviation"] >= 0.5 and row["score_rate_of_change"] >= 0.5
    assert "deviation" in row["detectors_fired"]
    assert scores["is_anomaly"].sum() <= 5  # the spike, not an avalanche


def test_level_shift_is_caught_within_the_smoothing_window(clean):
    frame = clean.copy()
    frame.loc[at(frame, "vibration", 1200, 1500), "value"] += 4.0
    scores = _score(frame)
    hits = scores[scores["is_anomaly"]]
    assert len(hits) > 0
    first = (hits["timestamp"].min() - START) / np.timedelta64(1, "m")
    assert 1200 <= first <= 1230
    assert scores[scores["timestamp"] < START + np.timedelta64(1200, "m")]["is_anomaly"].sum() == 0


def test_slow_drift_is_caught_before_it_gets_large(clean):
    frame = clean.copy()
    mask = at(frame, "current", 1200, 1500)
    frame.loc[mask, "value"] += np.linspace(0, 8.0, mask.sum())
    scores = _score(frame)
    hits = scores[scores["is_anomaly"] & (scores["sensor_id"] == "current")]
    assert len(hits) > 0
    assert (hits["timestamp"].min() - START) / np.timedelta64(1, "m") < 1400  # drift still under ~5 sigma


def test_stuck_sensor_is_caught(clean):
    frame = clean.copy()
    mask = at(frame, "current", 1200, 1240)
    frame.loc[mask, "value"] = frame.loc[at(frame, "current", 1199), "value"].iloc[0]
    scores = _score(frame)
    stuck = scores[scores["score_stuck"] >= 0.5]
    assert set(stuck["sensor_id"]) == {"current"}
    minutes = (stuck["timestamp"] - START) / np.timedelta64(1, "m")
    assert minutes.min() <= 1212 and minutes.max() == 1239
    assert stuck["is_anomaly"].all()


def test_gap_is_caught_when_data_resumes(clean):
    frame = clean[~at(clean, "temperature", 1200, 1230)]
    scores = _score(frame)
    gap = scores[scores["score_gap"] >= 0.5]
    assert list(gap["sensor_id"]) == ["temperature"]
    assert gap["timestamp"].iloc[0] == START + np.timedelta64(1230, "m")


def test_out_of_range_uses_the_reference_limits(clean):
    frame = clean.copy()
    frame.loc[at(frame, "vibration", 1300), "value"] = -1.0
    history, new = split(frame, TRAIN)
    sensors = plant(n=1)[["equipment_id", "sensor_id"]].assign(valid_min=0.0, valid_max=200.0)
    models = fit_models(history, as_of=history["timestamp"].max(), sensors=sensors)
    scores = score_readings(new, history, models)
    assert scores.loc[scores["score_out_of_range"] > 0, "sensor_id"].tolist() == ["vibration"]


def test_new_sensor_with_short_history_uses_a_prior_scale(clean):
    """A sensor unknown to the models: no frozen sigma, quiet on noise, still catches a spike."""
    frame = clean.copy()
    frame.loc[at(frame, "current", 1300), "value"] += 20.0
    history, new = split(frame, TRAIN)
    models = fit_models(history[history["sensor_id"] != "current"], as_of=history["timestamp"].max())
    scores = score_readings(new, None, models)  # the sensor's first reading ever is in `new`
    current = scores[scores["sensor_id"] == "current"]
    flagged = (current.loc[current["is_anomaly"], "timestamp"] - START) / np.timedelta64(1, "m")
    assert 1300 in flagged.tolist()
    assert len(flagged) <= 3
    assert current["score_deviation"].iloc[0] == 0.0  # nothing to compare the first reading with


def test_threshold_is_configurable_per_sensor_type(clean):
    frame = clean.copy()
    frame.loc[at(frame, "current", 1200), "value"] += 15.0
    config = DetectionConfig()
    strict = type(config)(scoring=type(config.scoring)(threshold_by_sensor_type={"current": 0.999}))
    scores = _score(frame, strict)
    assert not scores.loc[scores["sensor_id"] == "current", "is_anomaly"].any()


def test_alarm_limit_from_reference_is_crossed_on_either_side(clean):
    frame = clean.copy()
    history, new = split(frame, TRAIN)
    level = history.groupby("sensor_id")["value"].agg(["median", "std"])
    margin = 8 * level["std"]
    sensors = pd.DataFrame({"equipment_id": ["pump-1", "pump-1"], "sensor_id": ["vibration", "current"],
                            "alarm_limit": [level.loc["vibration", "median"] + margin["vibration"],  # rising
                                            level.loc["current", "median"] - margin["current"]]})  # falling
    models = fit_models(history, as_of=history["timestamp"].max(), sensors=sensors)
    scores = score_readings(new, history, models)
    assert (scores["score_alarm_limit"] < 0.5).all()  # clean readings stay well inside both limits
    frame.loc[at(frame, "vibration", 1300), "value"] += 1.2 * margin["vibration"]
    frame.loc[at(frame, "current", 1400), "value"] -= 1.2 * margin["current"]
    scores = score_readings(split(frame, TRAIN)[1], history, models)
    hits = scores[scores["score_alarm_limit"] >= 0.5]
    assert set(hits["sensor_id"]) == {"vibration", "current"}
    assert "alarm_limit" in ";".join(hits["detectors_fired"])
