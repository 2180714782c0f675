"""Learned method on a small fleet of an unseen type: training, selection, forecasts, pickling."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from smart_maintenance.forecasting import ForecastConfig, fit_rul_models, forecast_failures
from smart_maintenance_tests.forecasting.frames import run_to_failure_fleet, sensor_rows
from smart_maintenance_tests.forecasting.test_trend import assert_valid

CONFIG = replace(ForecastConfig(), rul=replace(ForecastConfig().rul, rul_cap_hours=100.0))


@pytest.fixture(scope="module")
def fleet():
    readings, events, equipment = run_to_failure_fleet(n_equipment=8, runs=2, seed=0)
    sensors = sensor_rows([(e, s, np.nan) for e in equipment["equipment_id"] for s in ("squeal", "hum", "grip")])
    as_of = events["timestamp"].max() + pd.Timedelta(hours=1)
    models = fit_rul_models(readings, events, equipment, CONFIG, as_of=as_of, seed=0, sensors=sensors)
    return readings, events, equipment, sensors, models


def test_models_learn_from_each_failure(fleet):
    _, events, _, _, models = fleet
    assert len(models.histories) == (events["event_type"] == "failure").sum() == 16
    model = models.learned["widget_press"]
    assert model.n_histories == 16 and model.cap_hours == 100.0
    assert set(model.sensors) == {"squeal", "hum", "grip"}
    assert model.backtest_rmse_hours < 20  # out-of-fold, hours, target capped at 100
    meta = models.metadata()
    assert meta["n_histories"] == 16 and meta["learned_types"] == ["widget_press"]
    assert models.method_for("widget_press") in ("learned_rul", "trend_prophet")
    # no alarm limits: limits learned from the failures, directions inferred (squeal rises, grip falls)
    offsets = models.limit_offsets.set_index("sensor_id")["offset"]
    assert offsets["squeal"] > 0 > offsets["grip"] and "hum" not in offsets
    assert pickle.loads(pickle.dumps(models)).version == models.version


def test_learned_rul_decreases_as_failure_approaches(fleet):
    _, _, equipment, sensors, models = fleet
    models.selection.loc[:, "method"] = "learned_rul"  # exercise the learned path whatever the backtest chose
    # a new unit of the type, 180 h to failure, forecast at several cut-offs
    test_readings, test_events, _ = run_to_failure_fleet(n_equipment=1, runs=1, seed=42)
    failure = test_events.loc[test_events["event_type"] == "failure", "timestamp"].iloc[0]
    errors, predicted = [], []
    for hours_left in (90, 60, 30, 10):
        as_of = failure - pd.Timedelta(hours=hours_left)
        rows = forecast_failures(test_readings[test_readings["timestamp"] <= as_of], sensors.assign(equipment_id="wp-00"),
                                 equipment, models, as_of, CONFIG)  # fmt: skip
        assert_valid(rows, as_of)
        (row,) = rows.to_dict("records")
        assert row["method"] == "learned_rul" and row["interval_level"] == 0.8
        assert row["drivers"].startswith("learned model of widget_press (16 failures)")
        predicted.append(row["rul_hours"])
        errors.append(abs(row["rul_hours"] - hours_left))
    assert all(a > b for a, b in zip(predicted, predicted[1:], strict=False)), predicted
    assert np.mean(errors) < 20, (predicted, errors)
    assert row["p_fail_7d"] > 0.9  # 10 h left


def test_type_without_enough_failures_has_no_learned_model():
    readings, events, equipment = run_to_failure_fleet(n_equipment=1, runs=2, seed=1)
    models = fit_rul_models(readings, events, equipment, CONFIG, as_of=events["timestamp"].max(), seed=0)
    assert models.learned == {} and len(models.histories) == 2
    assert models.method_for("widget_press") is None
