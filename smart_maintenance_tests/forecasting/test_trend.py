"""Trend method through the entry point: crossing time, no crossing, falling sensors, real dates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa

from smart_maintenance.forecasting import ForecastConfig, forecast_failures
from smart_maintenance.forecasting.trend import crossing_samples, sensor_series
from smart_maintenance.schemas import FAILURE_FORECASTS
from smart_maintenance_tests.forecasting.frames import START, ramp, sensor_rows, series

EQUIPMENT = pd.DataFrame({"equipment_id": ["kiln-7", "kiln-8", "sieve-1"], "type": ["rotary_kiln", "rotary_kiln", "sieve"],
                          "criticality": ["high", "high", "low"]})  # fmt: skip
HOURS = 240
AS_OF = START + pd.Timedelta(hours=HOURS)


def assert_valid(rows: pd.DataFrame, as_of: pd.Timestamp) -> None:
    """What every forecast row promises (the contract the Dagster check will test)."""
    pa.Table.from_pandas(rows, schema=FAILURE_FORECASTS, preserve_index=False)  # columns and types
    dated = rows[~rows["beyond_horizon"] & (rows["method"] != "none")]
    assert (dated["rul_lower_hours"] <= dated["rul_hours"]).all()
    assert (dated["rul_hours"] <= dated["rul_upper_hours"].fillna(np.inf)).all()
    assert (dated["predicted_failure_at"] > as_of).all()
    assert (dated["predicted_failure_at"].dt.year > 2000).all()
    assert (rows["as_of"].dt.year > 2000).all()
    beyond = rows[rows["beyond_horizon"]]
    assert beyond["predicted_failure_at"].isna().all() and beyond["rul_hours"].isna().all()
    assert rows[["p_fail_7d", "p_fail_30d"]].stack().dropna().between(0, 1).all()
    assert (rows["p_fail_7d"].fillna(0) <= rows["p_fail_30d"].fillna(0) + 1e-9).all()


def test_linear_degradation_crossing_time_and_falling_sensor():
    # kiln-7 'shell_heat' rises 0.25/h from hour 72: at as_of (h240) it is 92, the limit 110 is 72 h away.
    # kiln-8 'draft' falls 0.05/h from hour 72 towards a lower limit: 12 - 8.4 = 3.6, limit 2.0: 32 h away.
    readings = pd.concat([
        series("kiln-7", "shell_heat", ramp(HOURS, 72, 50.0, 0.25, 0.5, seed=1)),
        series("kiln-7", "bearing_noise", ramp(HOURS, 0, 3.0, 0.0, 0.1, seed=2)),
        series("kiln-8", "draft", ramp(HOURS, 72, 12.0, -0.05, 0.05, seed=3)),
    ], ignore_index=True)  # fmt: skip
    sensors = sensor_rows([("kiln-7", "shell_heat", 110.0), ("kiln-7", "bearing_noise", 9.0), ("kiln-8", "draft", 2.0)])
    rows = forecast_failures(readings, sensors, EQUIPMENT, None, AS_OF, ForecastConfig()).set_index("equipment_id")
    assert_valid(rows.reset_index(), AS_OF)
    k7, k8 = rows.loc["kiln-7"], rows.loc["kiln-8"]
    assert k7["method"] == "trend_prophet" and not k7["beyond_horizon"]
    assert abs(k7["rul_hours"] - 72) < 12, k7["rul_hours"]
    assert k7["rul_lower_hours"] <= 72 <= np.nan_to_num(k7["rul_upper_hours"], nan=np.inf) + 6  # null: unbounded
    assert k7["drivers"].startswith("shell_heat>110")
    assert k7["p_fail_7d"] > 0.5
    assert not k8["beyond_horizon"] and abs(k8["rul_hours"] - 32) < 8, k8["rul_hours"]
    assert k8["drivers"].startswith("draft<2")


def test_no_crossing_is_beyond_horizon_without_a_date():
    readings = series("sieve-1", "mesh_load", ramp(HOURS, 0, 40.0, 0.0, 0.4, seed=4))
    sensors = sensor_rows([("sieve-1", "mesh_load", 70.0)])
    rows = forecast_failures(readings, sensors, EQUIPMENT, None, AS_OF)
    assert_valid(rows, AS_OF)
    (row,) = rows.to_dict("records")
    assert row["method"] == "trend_prophet" and row["beyond_horizon"]
    assert np.isnan(row["rul_hours"]) and pd.isna(row["predicted_failure_at"]) and np.isnan(row["rul_upper_hours"])
    assert row["rul_lower_hours"] == 60 * 24  # "not before the horizon"
    assert row["p_fail_7d"] == 0.0


def test_slowly_rising_sensor_fitted_but_crossing_beyond_horizon():
    # Out of its band (fitted, not screened), but at 0.01/h the limit is ~250 days away.
    readings = series("sieve-1", "mesh_load", ramp(HOURS, 48, 40.0, 0.01, 0.05, seed=5))
    sensors = sensor_rows([("sieve-1", "mesh_load", 100.0)])
    (row,) = forecast_failures(readings, sensors, EQUIPMENT, None, AS_OF).to_dict("records")
    assert row["beyond_horizon"] and pd.isna(row["predicted_failure_at"])


def test_prophet_dates_are_real_dates():
    # Regression: the old system fed Prophet epoch offsets and its interval dates came out as 1970.
    values = ramp(96, 0, 10.0, 0.1, 0.05, seed=6)
    frame = pd.DataFrame({"ds": pd.date_range("2025-06-01", periods=96, freq="h"), "y": values})
    as_of = pd.Timestamp("2025-06-05", tz="UTC")
    hours = crossing_samples(frame, 20.0, 1, as_of, ForecastConfig().trend, seed=0)
    assert np.isfinite(hours).mean() > 0.5
    assert abs(np.median(hours) - 4) < 3  # 19.5 at the end of the data, +0.1/h
    when = as_of + pd.to_timedelta(np.median(hours), unit="h")
    assert when.year == 2025


def test_equipment_without_limits_or_model_gets_a_none_row():
    readings = series("sieve-1", "mesh_load", ramp(HOURS, 0, 40.0, 0.0, 0.4))
    rows = forecast_failures(readings, sensor_rows([("sieve-1", "mesh_load", np.nan)]), EQUIPMENT, None, AS_OF)
    assert rows["method"].tolist() == ["none"] and rows["rul_hours"].isna().all()
    assert_valid(rows, AS_OF)


def test_only_equipment_with_recent_data_is_forecast():
    old = series("kiln-8", "draft", ramp(100, 0, 12.0, 0.0, 0.05))  # stops 140 h before as_of
    now = series("sieve-1", "mesh_load", ramp(HOURS, 0, 40.0, 0.0, 0.4))
    sensors = sensor_rows([("kiln-8", "draft", 2.0), ("sieve-1", "mesh_load", 70.0)])
    rows = forecast_failures(pd.concat([old, now]), sensors, EQUIPMENT, None, AS_OF)
    assert rows["equipment_id"].tolist() == ["sieve-1"]


def test_sensor_series_cuts_each_sensor_at_its_own_time_and_drops_stops():
    # What Prophet would fit, per sensor with a limit, cut for all sensors at once: rows in
    # (cut - history, cut], stops (far on the safe side) removed, rows kept in their order. A sensor
    # whose rows all fall out is still listed (then screened out); one without a limit is not.
    config, baseline = dataclasses.replace(ForecastConfig().trend, history=pd.Timedelta(hours=48)), ForecastConfig().baseline
    values = np.full(HOURS, 50.0)
    values[200] = 0.0  # a stop: 50 scales below the baseline, the limit lies above
    grid = pd.concat([
        series("kiln-8", "draft", np.full(HOURS, 12.0)),
        series("kiln-7", "shell_heat", values).iloc[::-1],  # rows out of time order stay so
        series("kiln-7", "hum", np.full(HOURS, 5.0)),
    ], ignore_index=True)[["equipment_id", "sensor_id", "timestamp", "value"]]  # fmt: skip
    limited = pd.DataFrame({"equipment_id": ["kiln-7", "kiln-8"], "sensor_id": ["shell_heat", "draft"], "center": [50.0, 12.0],
                            "scale": [1.0, 0.5], "alarm_limit": [110.0, 2.0], "direction": [1, -1]}).set_index(["equipment_id", "sensor_id"])
    cut_7, cut_8 = START + pd.Timedelta(hours=220), START - pd.Timedelta(hours=1)  # kiln-8: before its first row
    out = list(sensor_series(grid, limited, {"kiln-7": cut_7, "kiln-8": cut_8}.get, baseline, config))
    assert [key for key, *_ in out] == [("kiln-7", "shell_heat"), ("kiln-8", "draft")]
    (_, ref, cut, ds, y), (_, ref_8, _, ds_8, _) = out
    assert ref == (50.0, 1.0, 110.0, 1) and ref_8 == (12.0, 0.5, 2.0, -1) and cut == cut_7
    start = (cut_7 - config.history).tz_localize(None)
    expected = [t for t in pd.date_range(START, periods=HOURS, freq="h").tz_localize(None)[::-1]
                if start < t <= cut_7.tz_localize(None) and t != (START + pd.Timedelta(hours=200)).tz_localize(None)]
    assert list(pd.DatetimeIndex(ds)) == expected and len(expected) == 47 and (y == 50.0).all()
    assert len(ds_8) == 0


def test_a_few_fits_in_threads_give_what_one_after_the_other_gives():
    """A micro-batch's handful of Prophet fits run in threads (each mostly a cmdstan process); Prophet's
    sampling draws from numpy's global generator, seeded per fit under a lock: the same rows as in turn."""
    readings = pd.concat([
        series("kiln-7", "shell_heat", ramp(HOURS, 72, 50.0, 0.25, 0.5, seed=1)),
        series("kiln-8", "draft", ramp(HOURS, 72, 12.0, -0.05, 0.05, seed=3)),
        series("sieve-1", "mesh_load", ramp(HOURS, 100, 40.0, 0.1, 0.4, seed=4)),
    ], ignore_index=True)  # fmt: skip
    sensors = sensor_rows([("kiln-7", "shell_heat", 110.0), ("kiln-8", "draft", 2.0), ("sieve-1", "mesh_load", 70.0)])
    threaded = ForecastConfig()
    assert threaded.trend.n_jobs > 1 and threaded.trend.parallel_min_series > 3  # 3 fits: threads
    in_turn = dataclasses.replace(threaded, trend=dataclasses.replace(threaded.trend, n_jobs=1))
    rows = [forecast_failures(readings, sensors, EQUIPMENT, None, AS_OF, config).drop(columns="model_version")  # names the config
            for config in (threaded, in_turn, threaded)]
    assert (rows[0]["method"] == "trend_prophet").all() and rows[0]["rul_hours"].notna().sum() >= 2
    pd.testing.assert_frame_equal(rows[0], rows[1])
    pd.testing.assert_frame_equal(rows[0], rows[2])
