"""Equipment health and the evaluation metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from smart_maintenance.forecasting import coverage, equipment_health, nasa_score, rmse
from smart_maintenance.schemas import EQUIPMENT_HEALTH
from smart_maintenance_tests.forecasting.frames import START, ramp, sensor_rows, series


def test_health_falls_with_degradation_and_names_the_sensor():
    hours = 24 * 8
    readings = pd.concat([
        series("mixer-3", "paddle_torque", ramp(hours, 96, 30.0, 0.1, 0.3, seed=1)),
        series("mixer-3", "coolant_flow", ramp(hours, 96, 50.0, -0.08, 0.3, seed=2)),  # falls towards its limit
        series("mixer-3", "ambient", ramp(hours, 0, 20.0, 0.0, 0.3, seed=3)),
    ], ignore_index=True)  # fmt: skip
    sensors = sensor_rows([("mixer-3", "paddle_torque", 50.0), ("mixer-3", "coolant_flow", 30.0), ("mixer-3", "ambient", np.nan)])
    as_of = START + pd.Timedelta(hours=hours)
    health = equipment_health(readings, sensors, as_of)
    pa.Table.from_pandas(health, schema=EQUIPMENT_HEALTH, preserve_index=False)
    assert len(health) == 8 and (health["date"].dt.year > 2000).all()
    first, last = health.iloc[0], health.iloc[-1]
    assert first["health"] > 0.8 and last["health"] < 0.3
    assert last["trend_per_day"] > 0 and last["n_sensors"] == 3
    assert set(last["contributing_sensors"].split("; ")[0].split()[:1]) <= {"paddle_torque", "coolant_flow"}
    assert "coolant_flow" in last["contributing_sensors"] and "ambient" not in last["contributing_sensors"]


def test_metrics():
    assert rmse([3, 5], [3, 1]) == np.sqrt(8)
    # late by 10 (d=10): e - 1; early by 13 (d=-13): e - 1
    assert np.isclose(nasa_score([20, 0], [10, 13]), 2 * (np.e - 1))
    assert coverage([0, 5, 0], [10, 6, np.nan], [5, 7, 100]) == 2 / 3


def test_contributing_sensors_strongest_first_at_most_three_above_two_scales():
    # One press, five sensors; on its third day each moves towards its limit by a different number of
    # scales (noise sd 1 around 100: scale ~1). The day names the three furthest (> 2 scales), strongest first.
    hours, shifts = 72, {"a": 3.0, "b": 10.0, "c": 6.0, "d": 4.0, "e": 0.0}
    rng = np.random.default_rng(0)
    readings = pd.concat([series("press-1", s, 100 + rng.normal(0, 1, hours) + np.where(np.arange(hours) >= 48, shift, 0.0))
                          for s, shift in shifts.items()], ignore_index=True)  # fmt: skip
    sensors = sensor_rows([("press-1", s, 130.0) for s in shifts])
    health = equipment_health(readings, sensors, START + pd.Timedelta(hours=hours))
    assert health["n_sensors"].tolist() == [5, 5, 5]
    assert [part.split()[0] for part in health["contributing_sensors"].iloc[-1].split("; ")] == ["b", "c", "d"]
    assert health["contributing_sensors"].iloc[0] == ""  # healthy first day
    assert health["distance"].iloc[-1] > health["distance"].iloc[0] and health["trend_per_day"].iloc[-1] > 0
