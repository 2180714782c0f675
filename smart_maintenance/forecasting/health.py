"""Equipment health: one number per equipment and day, how far its sensors have moved from healthy.

Each sensor's daily median (hourly medians, stops removed) is compared with its healthy baseline
(limits.py) in baseline scales, signed towards its alarm limit (two-sided when it has none), and
clipped at 0: moving away from the limit is not damage. The equipment's distance is the root mean
square of these over its sensors; health = exp(-distance / reference_z) runs from 1 (as new) towards
0. The trend is the least-squares slope of the distance per day over the last `trend_days` days.
Contributing sensors: the largest distances of the day (more than 2 scales), strongest first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.config import ForecastConfig
from smart_maintenance.forecasting.history import aggregate, current_runs, utc
from smart_maintenance.forecasting.limits import directional_z, sensor_limits

HEALTH_COLUMNS = ["equipment_id", "date", "as_of", "health", "distance", "trend_per_day", "contributing_sensors", "n_sensors"]


def equipment_health(
    readings: pd.DataFrame,
    sensors: pd.DataFrame | None,
    as_of,
    config: ForecastConfig | None = None,
    events: pd.DataFrame | None = None,
    equipment: pd.DataFrame | None = None,
    learned_offsets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """EQUIPMENT_HEALTH rows (HEALTH_COLUMNS): per equipment, one row per day of its current run up to as_of.

    date: the day's start (UTC); the last day may be partial (it ends at as_of). events (optional)
    start each equipment's run after its last repair; learned_offsets (RulModels.limit_offsets)
    give directions to sensors without an alarm limit.
    """
    config = config or ForecastConfig()
    as_of = utc(as_of)
    grid = current_runs(aggregate(readings, config.trend.aggregate, as_of), events, as_of)
    if not len(grid):
        return _empty()
    limits = sensor_limits(grid, sensors, equipment, config.baseline, learned_offsets)
    frame = grid.merge(limits[["equipment_id", "sensor_id", "center", "scale", "direction"]], on=["equipment_id", "sensor_id"])
    frame["z"] = directional_z(frame["value"], frame["center"], frame["scale"], frame["direction"])
    frame = frame[frame["z"] > -config.baseline.idle_z]  # stops
    frame["date"] = frame["timestamp"].dt.floor(config.health.frequency)
    daily = frame.groupby(["equipment_id", "date", "sensor_id"], sort=True)["z"].median().clip(lower=0.0).reset_index()
    # One slice per equipment and day, its sensors strongest first (ties in sensor order).
    daily = daily.sort_values(["equipment_id", "date", "z"], ascending=[True, True, False], kind="stable", ignore_index=True)
    first = ~daily.duplicated(["equipment_id", "date"]).to_numpy()
    bounds = np.append(np.flatnonzero(first), len(daily))
    z, sensor_ids = daily["z"].to_numpy(), daily["sensor_id"].to_numpy()
    distance, contributing = [], []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        distance.append(float(np.sqrt(np.mean(z[start:end] ** 2))))
        top = [i for i in range(start, end) if z[i] > 2.0][: config.health.top_sensors]
        contributing.append("; ".join(f"{sensor_ids[i]} +{z[i]:.1f} sd" for i in top))
    out = daily.loc[first, ["equipment_id", "date"]].reset_index(drop=True)
    out["distance"], out["contributing_sensors"], out["n_sensors"] = distance, contributing, np.diff(bounds)
    out["health"] = np.exp(-out["distance"] / config.health.reference_z)
    out["trend_per_day"] = out.groupby("equipment_id", sort=False)["distance"].transform(lambda d: _rolling_slope(d.to_numpy(), config.health.trend_days))
    out["as_of"] = pd.Series([as_of] * len(out), dtype="datetime64[us, UTC]")
    out["date"] = out["date"].astype("datetime64[us, UTC]")
    out["n_sensors"] = out["n_sensors"].astype("int64")
    return out[HEALTH_COLUMNS]


def _rolling_slope(values: np.ndarray, window: int) -> np.ndarray:
    """Least-squares slope over the last `window` points (0 with a single point)."""
    out = np.zeros(len(values))
    for i in range(len(values)):
        y = values[max(0, i - window + 1) : i + 1]
        if len(y) > 1:
            out[i] = np.polyfit(np.arange(len(y), dtype=float), y, 1)[0]
    return out


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(HEALTH_COLUMNS, [
        object, "datetime64[us, UTC]", "datetime64[us, UTC]", float, float, float, object, "int64"], strict=True)})  # fmt: skip
