"""Scoring a period in one call or in consecutive micro-batches gives identical results."""

import pickle

import numpy as np
import pandas as pd
import pytest

from smart_maintenance.detection import DetectionConfig, fit_models, score_readings
from smart_maintenance_tests.detection.frames import START, at, plant, split


@pytest.fixture(scope="module")
def frame():
    f = plant(n=900, equipment=("pump-1", "pump-2"), seed=3)
    f.loc[at(f, "current", 700), "value"] += 12.0  # a spike
    f.loc[at(f, "vibration", 750, 820, equipment="pump-2"), "value"] += 3.0  # a shift
    f = f[~at(f, "temperature", 600, 640)]  # a gap
    slow = f[(f["equipment_id"] == "pump-1") & (f["sensor_id"] == "temperature")]
    f = f.drop(slow.index[1::2])  # a sensor sampled half as often: sensors not aligned
    extra = f[f["sensor_id"] == "current"].assign(sensor_id="new-sensor", sensor_type=None)  # no fitted baseline
    return pd.concat([f, extra], ignore_index=True)


@pytest.fixture(scope="module")
def models(frame):
    history, _ = split(frame, 500)
    return fit_models(history[history["sensor_id"] != "new-sensor"], as_of=history["timestamp"].max())


@pytest.mark.parametrize("cuts", [[520, 521, 640, 700, 701, 702, 800], list(range(510, 900, 37))])
def test_one_call_equals_micro_batches(frame, models, cuts):
    history, new = split(frame, 500)
    whole = score_readings(new, history, models)
    parts = []
    bounds = [500] + cuts + [10_000]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        earlier, rest = split(frame, lo)
        batch, _ = split(rest, hi)
        if len(batch):
            parts.append(score_readings(batch, earlier, models))
    chunked = pd.concat(parts, ignore_index=True).sort_values(["equipment_id", "sensor_id", "timestamp"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, chunked, check_exact=True)
    assert whole["is_anomaly"].sum() > 0  # the period holds anomalies, so the test means something


def test_history_beyond_the_lookback_changes_nothing(frame, models):
    history, new = split(frame, 500)
    config = DetectionConfig()
    short = history.sort_values("timestamp").groupby(["equipment_id", "sensor_id"]).tail(config.lookback_readings)
    pd.testing.assert_frame_equal(score_readings(new, history, models), score_readings(new, short, models), check_exact=True)


def test_scores_do_not_depend_on_later_readings(frame, models):
    history, new = split(frame, 500)
    early, _ = split(new, 700)
    full = score_readings(new, history, models)
    alone = score_readings(early, history, models)
    pd.testing.assert_frame_equal(full[full["timestamp"] < START + np.timedelta64(700, "m")].reset_index(drop=True), alone, check_exact=True)


def test_models_are_artifacts_with_their_training_window(frame, models):
    copy = pickle.loads(pickle.dumps(models))
    assert copy.version == models.version
    assert copy.train_start == START and copy.train_end == START + pd.Timedelta(minutes=499)
    assert set(copy.equipment) == {"pump-1", "pump-2"}
    assert copy.metadata()["n_sensors"] == 6
    history, new = split(frame, 500)
    pd.testing.assert_frame_equal(score_readings(new, history, copy), score_readings(new, history, models))
    assert (score_readings(new, history, models)["model_version"] == models.version).all()
