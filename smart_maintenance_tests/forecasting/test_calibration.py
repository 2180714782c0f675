"""Trend calibration (calibration.py). On a fleet whose alarm comes before the failure, like the simulated
plant's, Prophet's raw interval covers far less than its nominal 80 % and the calibrated one about 80 %;
nothing is calibrated without past failures, and only the failures before the fit time count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smart_maintenance.forecasting import ForecastConfig, fit_rul_models, forecast_failures
from smart_maintenance.forecasting.backtest import cutoffs, trend_backtest
from smart_maintenance.forecasting.calibration import (
    ALL_TYPES,
    RAW_NOTE,
    TrendCalibration,
    calibrated_summary,
    fit_calibration,
    fit_calibrations,
)
from smart_maintenance.forecasting.config import CalibrationConfig
from smart_maintenance.forecasting.history import aggregate, failure_histories, history_rows
from smart_maintenance_tests.forecasting.frames import START, alarm_before_failure_fleet
from smart_maintenance_tests.forecasting.test_trend import assert_valid

TYPES = ("kiln", "dryer", "mill", "press")  # two failures each: no learned model, no type calibrated on its own
LEVEL = 0.8


@pytest.fixture(scope="module")
def kilns():
    readings, events, equipment, sensors = alarm_before_failure_fleet(8, seed=1, types=TYPES)
    as_of = events["timestamp"].max() + pd.Timedelta(hours=3)
    models = fit_rul_models(readings, events, equipment, as_of=as_of, seed=0, sensors=sensors)
    return readings, events, equipment, sensors, models


@pytest.fixture(scope="module")
def unseen():
    """Six new units of the same types (another random stream), each replayed as it wore out."""
    readings, events, equipment, sensors = alarm_before_failure_fleet(6, seed=2, types=TYPES, start=START + pd.Timedelta(days=30))
    grid = aggregate(readings, "1h")
    types = equipment.set_index("equipment_id")["type"]
    histories = failure_histories(events, grid, events["timestamp"].max()).assign(equipment_type=lambda f: f["equipment_id"].map(types))
    rows = history_rows(grid, histories).assign(equipment_type=lambda f: f["equipment_id"].map(types))
    replay = trend_backtest(rows, cutoffs(rows, 150.0, 16, "1h", seed=5), sensors, equipment, ForecastConfig())
    return readings, events, equipment, sensors, replay[replay["trend_median"].notna()]


def covered(lower, upper, truth) -> float:
    return float(np.mean((np.asarray(truth) >= np.asarray(lower)) & (np.asarray(truth) <= np.asarray(upper))))


def test_calibration_pooled_over_types_from_the_failure_backtest(kilns):
    *_, models = kilns
    assert models.learned == {} and len(models.histories) == 8
    cal = models.trend_calibration("kiln")
    assert cal is not None and cal.scope == ALL_TYPES and cal.n_histories == 8 and cal.n_points >= 20
    assert models.trend_calibration("a type that never failed") is cal  # pooled: the alarm-to-failure gap is plant-wide
    assert cal.point_factor > 1.0 and cal.upper_factor > 1.0  # the failure comes after the alarm
    assert cal.raw_coverage < 0.65  # Prophet's interval on the backtest
    assert 0.7 <= cal.coverage <= 0.95  # calibrated, each history scored by a calibration fitted without it
    meta = models.metadata()["trend_calibration"][ALL_TYPES]
    assert meta["n_histories"] == 8 and meta["n_points"] == cal.n_points and meta["coverage_loho"] == round(cal.coverage, 3)
    assert set(models.trend_backtest["history_id"]) == set(models.histories["history_id"])


def test_calibrated_interval_covers_near_nominal_on_unseen_equipment(kilns, unseen):
    *_, models = kilns
    *_, replay = unseen
    cal = models.trend_calibration("kiln")
    lower, median, upper = cal.interval(replay["trend_lower"], replay["trend_median"], replay["trend_upper"])
    truth = replay["rul_true"]
    raw = covered(replay["trend_lower"], replay["trend_upper"], truth)
    calibrated = covered(lower, upper, truth)
    assert len(replay) >= 40
    assert raw < 0.65, raw
    assert abs(calibrated - LEVEL) <= 0.1, calibrated
    assert np.median(np.abs(median - truth)) <= np.median(np.abs(replay["trend_median"] - truth))


def test_forecast_applies_the_calibration_and_says_so(kilns, unseen):
    _, _, train_equipment, _, models = kilns
    readings, events, equipment, sensors, _ = unseen
    equipment = pd.concat([train_equipment, equipment], ignore_index=True)
    failure = events.loc[events["event_type"] == "failure"].set_index("equipment_id")["timestamp"]
    unit = failure.index[0]
    as_of = failure[unit] - pd.Timedelta(hours=40)
    own = readings[(readings["equipment_id"] == unit) & (readings["timestamp"] <= as_of)]
    (raw,) = forecast_failures(own, sensors, equipment, None, as_of).to_dict("records")
    (cal,) = forecast_failures(own, sensors, equipment, models, as_of).to_dict("records")
    assert raw["method"] == cal["method"] == "trend_prophet" and not raw["beyond_horizon"] and not cal["beyond_horizon"]
    assert raw["drivers"].endswith(RAW_NOTE)
    assert cal["drivers"].endswith("calibrated on 8 past failures (all types)")
    assert cal["drivers"].split("; ")[0] == raw["drivers"].split("; ")[0]  # the sensor's crossing itself is the same
    expected = models.trend_calibration("kiln").interval(raw["rul_lower_hours"], raw["rul_hours"], np.nan_to_num(raw["rul_upper_hours"], nan=np.inf))
    got = (cal["rul_lower_hours"], cal["rul_hours"], np.nan_to_num(cal["rul_upper_hours"], nan=np.inf))
    np.testing.assert_allclose(got, expected)
    assert cal["rul_hours"] > raw["rul_hours"]  # later than the alarm
    for rows in (raw, cal):
        assert_valid(pd.DataFrame([rows]), as_of)


def test_no_calibration_without_failure_history(kilns):
    readings, events, equipment, sensors, _ = kilns
    repairs_only = events[events["event_type"] != "failure"]
    models = fit_rul_models(readings, repairs_only, equipment, as_of=events["timestamp"].max(), seed=0, sensors=sensors)
    assert len(models.histories) == 0 and models.trend_calibrations == {} and models.trend_calibration("kiln") is None
    assert models.metadata()["trend_calibration"] == {}
    # failures, but no sensor reference to replay the trend method with: nothing to calibrate on either
    unreferenced = fit_rul_models(readings, events, equipment, as_of=events["timestamp"].max(), seed=0)
    assert len(unreferenced.histories) == 8 and unreferenced.trend_calibration("kiln") is None
    unit = equipment["equipment_id"].iloc[0]
    as_of = events.loc[(events["equipment_id"] == unit) & (events["event_type"] == "failure"), "timestamp"].iloc[0] - pd.Timedelta(hours=30)
    own = readings[(readings["equipment_id"] == unit) & (readings["timestamp"] <= as_of)]
    (row,) = forecast_failures(own, sensors, equipment, models, as_of).to_dict("records")
    assert row["method"] == "trend_prophet" and row["drivers"].endswith(RAW_NOTE)


def test_calibration_learns_only_from_failures_before_as_of(kilns):
    readings, events, equipment, sensors, _ = kilns
    failures = events.loc[events["event_type"] == "failure", "timestamp"].sort_values()
    as_of = failures.iloc[4] + pd.Timedelta(hours=1)  # five failures known, three in the future
    everything = fit_rul_models(readings, events, equipment, as_of=as_of, seed=0, sensors=sensors)
    known = fit_rul_models(readings[readings["timestamp"] <= as_of], events[events["timestamp"] <= as_of], equipment,
                           as_of=as_of, seed=0, sensors=sensors)  # fmt: skip
    assert (everything.histories["failure_at"] <= as_of).all() and len(everything.histories) == 5
    assert set(everything.trend_backtest["history_id"]) <= set(everything.histories["history_id"])
    assert (everything.trend_backtest["timestamp"] < as_of).all()
    assert everything.metadata()["trend_calibration"] == known.metadata()["trend_calibration"]  # the future changed nothing
    assert everything.trend_calibration("kiln").n_histories == 5


def hand_made_points(histories: int, per_history: int, seed: int) -> pd.DataFrame:
    """Raw intervals that are too narrow and too early: truth ~ 1.3 x median x lognormal(0.25)."""
    rng = np.random.default_rng(seed)
    n = histories * per_history
    median = rng.uniform(5, 100, n)
    truth = 1.3 * median * np.exp(rng.normal(0, 0.25, n))
    return pd.DataFrame({"history_id": np.repeat([f"h{i}" for i in range(histories)], per_history), "equipment_type": "kiln",
                         "timestamp": pd.Timestamp("2026-01-01", tz="UTC"), "rul_true": truth,
                         "trend_lower": 0.9 * median, "trend_median": median, "trend_upper": 1.1 * median})  # fmt: skip


def test_conformal_factors_on_hand_made_points():
    cal = fit_calibration(hand_made_points(10, 12, seed=0), "kiln", LEVEL, CalibrationConfig())
    assert cal.raw_coverage < 0.3 and cal.in_sample_coverage >= LEVEL
    assert cal.point_factor > 1.0 and cal.upper_factor > 1.0  # later and wider than the raw forecast
    assert abs(cal.coverage - LEVEL) < 0.1  # leave-one-history-out
    fresh = hand_made_points(100, 10, seed=1)
    lower, median, upper = cal.interval(fresh["trend_lower"], fresh["trend_median"], fresh["trend_upper"])
    assert abs(covered(lower, upper, fresh["rul_true"]) - LEVEL) < 0.07
    assert (lower <= median).all() and (median <= upper).all() and (lower >= 1.0).all()
    def log_error(predicted) -> float:
        return float(np.median(np.abs(np.log(predicted / fresh["rul_true"]))))

    assert log_error(median) < 0.8 * log_error(fresh["trend_median"])  # most of the bias is gone (noise floor ~0.17)
    assert len(cal.backtest) == 120 and cal.backtest["calibrated_median"].notna().all()


def test_calibration_scope_and_minimum_points():
    points = pd.concat([hand_made_points(3, 12, seed=2), hand_made_points(1, 12, seed=3).assign(history_id="m0", equipment_type="mill")])
    assert set(fit_calibrations(points, LEVEL, CalibrationConfig())) == {"kiln", ALL_TYPES}  # mill: one failure, pooled only
    assert set(fit_calibrations(points, LEVEL, CalibrationConfig(pool_types=False))) == {"kiln"}
    assert fit_calibrations(points, LEVEL, CalibrationConfig(enabled=False)) == {}
    assert fit_calibration(points.head(9), "kiln", LEVEL, CalibrationConfig()) is None  # fewer than min_points
    beyond = points.assign(trend_median=np.nan)  # replays beyond the horizon say nothing about the interval
    assert fit_calibration(beyond, "kiln", LEVEL, CalibrationConfig()) is None


def test_calibrated_summary_keeps_the_horizon_semantics():
    def calibration(point: float, upper: float) -> TrendCalibration:
        return TrendCalibration("kiln", 3, 30, 10.0, 0.8, point, upper, LEVEL, 0.5, 0.8, 0.8)

    samples = np.random.default_rng(0).normal(100, 10, 200)
    out = calibrated_summary(samples, calibration(1.2, 1.5), LEVEL, 1440.0)
    assert not out["beyond_horizon"] and out["rul_lower_hours"] <= out["rul_hours"] <= out["rul_upper_hours"]
    assert out["rul_hours"] == pytest.approx((np.median(samples) + 10) * 1.2 - 10, rel=0.02)
    assert 0 <= out["p_fail_7d"] <= out["p_fail_30d"] <= 1
    wide = calibrated_summary(samples, calibration(1.2, 20.0), LEVEL, 1440.0)  # upper past the horizon: unbounded
    assert np.isnan(wide["rul_upper_hours"]) and not wide["beyond_horizon"]
    late = calibrated_summary(samples, calibration(20.0, 30.0), LEVEL, 1440.0)  # median past the horizon: no date
    assert late["beyond_horizon"] and np.isnan(late["rul_hours"]) and late["rul_lower_hours"] <= 1440.0
    never = calibrated_summary(np.full(200, np.inf), calibration(1.2, 1.5), LEVEL, 1440.0)
    assert never["beyond_horizon"] and never["p_fail_30d"] == 0.0 and never["rul_lower_hours"] == 1440.0
    now = calibrated_summary(np.ones(200), calibration(1.2, 1.5), LEVEL, 1440.0)  # already beyond the limit
    assert 1.0 <= now["rul_lower_hours"] <= now["rul_hours"] < now["rul_upper_hours"]
