"""Trend method: Prophet on a sensor's aggregated history until its level crosses the alarm limit.

Per sensor with a limit and a direction (limits.py): hourly medians of the current run, stops removed
(values far on the safe side of the baseline), fitted by Prophet (piecewise-linear trend, a daily cycle
once there are a few days). Each of Prophet's uncertainty samples of the future level (trend samples
plus the expected seasonal part) gives one crossing time; a sample that never crosses within the
horizon counts as +inf. An equipment fails when its first sensor crosses: per sample, the earliest
crossing over its sensors. The point forecast is the median, the interval the central quantiles;
when the median is +inf the forecast is "beyond horizon" and carries no date. Where past failures allow,
the forecast is then calibrated (calibration.py): the alarm comes before the failure, and Prophet's
interval alone is too narrow.

Prophet gets real timestamps (naive UTC): the old system's interval dates came out as 1970 because it
fed it epoch offsets.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.calibration import RAW_NOTE, TrendCalibration, calibrated_summary
from smart_maintenance.forecasting.config import BaselineConfig, TrendConfig
from smart_maintenance.forecasting.limits import directional_z
from smart_maintenance.forecasting.summary import SUMMARY_COLUMNS, summarise_samples

_GLOBAL_RNG = threading.Lock()  # numpy's global generator: seeding it and drawing from it are one step (fits run in threads)


def quiet_prophet() -> None:
    """Prophet and cmdstanpy log every fit at INFO: silence them (called in each worker too)."""
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(name).disabled = True


def sensor_series(grid: pd.DataFrame, limited: pd.DataFrame, as_of_for, baseline: BaselineConfig, config: TrendConfig):
    """What Prophet fits, per sensor of the grid with a limit, in (equipment_id, sensor_id) order: yields
    the key, (center, scale, alarm_limit, direction) from `limited` (indexed by the key), the cut-off,
    and the ds (naive UTC) and y arrays: the sensor's rows in (cut - history, cut] in grid order, without
    stops (values far on the safe side of the baseline). A sensor left with no rows is still yielded.
    The rows of all sensors are cut at once (per sensor only slices: hundreds of sensors cost a few ms)."""
    frame = grid.sort_values(["equipment_id", "sensor_id"], kind="stable")  # groupby's order, rows kept in theirs
    keys = pd.MultiIndex.from_arrays([frame["equipment_id"], frame["sensor_id"]])
    at = limited.index.get_indexer(keys)
    frame, at = frame[at >= 0], at[at >= 0]
    if not len(frame):
        return
    ref = limited[["center", "scale", "alarm_limit", "direction"]].to_numpy(float)[at]
    codes, equipment = pd.factorize(frame["equipment_id"])
    cuts = {e: pd.Timestamp(as_of_for(e)) for e in equipment}
    cut = np.array([cuts[e].tz_convert("UTC").tz_localize(None).to_datetime64() for e in equipment])[codes]
    ds = frame["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    y = frame["value"].to_numpy(float)
    z = directional_z(y, ref[:, 0], ref[:, 1], ref[:, 3])
    keep = (ds <= cut) & (ds > cut - np.timedelta64(config.history)) & (z > -baseline.idle_z)
    first = np.flatnonzero(np.append(True, at[1:] != at[:-1]))
    for start, end in zip(first, np.append(first[1:], len(at)), strict=True):
        part = np.flatnonzero(keep[start:end]) + start
        equipment_id, sensor_id = limited.index[at[start]]
        yield (equipment_id, sensor_id), tuple(ref[start]), cuts[equipment_id], ds[part], y[part]


def screened_out(y: np.ndarray, center: float, scale: float, limit: float, config: TrendConfig) -> bool:
    """True when the sensor's recent level is still inside its healthy band (see TrendConfig: screening)."""
    if len(y) < 2:
        return True
    level = float(np.median(y[-6:]))
    towards = (level - center) * np.sign(limit - center)
    return towards < config.screen_z * scale and towards < config.screen_margin_used * abs(limit - center)


def crossing_samples(series: pd.DataFrame, limit: float, direction: int, as_of, config: TrendConfig, seed: int = 0) -> np.ndarray:
    """Hours after `as_of` at which each uncertainty sample of the level first crosses `limit`.

    series: ds (naive UTC datetimes) and y. Returns `uncertainty_samples` values, +inf for samples
    that stay on the safe side within the horizon; at least one `step` (a level already beyond the
    limit fails "now", i.e. within the first step).
    """
    from prophet import Prophet  # heavy import: only where a fit happens

    quiet_prophet()
    as_of_naive = pd.Timestamp(as_of).tz_convert("UTC").tz_localize(None)
    span = series["ds"].iloc[-1] - series["ds"].iloc[0]
    model = Prophet(
        growth="linear",
        changepoint_prior_scale=config.changepoint_prior_scale,
        changepoint_range=config.changepoint_range,
        daily_seasonality=bool(span >= config.daily_seasonality_after),
        weekly_seasonality=False,
        yearly_seasonality=False,
        uncertainty_samples=config.uncertainty_samples,
        interval_width=config.interval_level,
    )
    model.fit(series)
    start = max(series["ds"].iloc[-1], as_of_naive) + config.step
    # `step` resolution for the first week, `far_step` beyond: a crossing weeks away needs no hourly precision.
    near_end = min(as_of_naive + pd.Timedelta(days=7), as_of_naive + config.horizon)
    near = pd.date_range(start, near_end, freq=config.step)
    far = pd.date_range(near_end + config.far_step, as_of_naive + config.horizon, freq=config.far_step)
    future = pd.DataFrame({"ds": near.append(far)})
    with _GLOBAL_RNG:  # Prophet draws its future trend changes from numpy's global generator: seed, then draw
        np.random.seed(seed)
        samples = model.predictive_samples(future)  # (times, samples); yhat = trend + seasonality + noise
    seasonal = np.mean(samples["yhat"] - samples["trend"], axis=1, keepdims=True)  # noise averages out
    level = samples["trend"] + seasonal
    crossed = (level - limit) * direction >= 0
    hours = ((future["ds"] - as_of_naive).dt.total_seconds() / 3600.0).to_numpy()
    first = np.where(crossed.any(axis=0), hours[np.argmax(crossed, axis=0)], np.inf)
    return np.maximum(first, config.step.total_seconds() / 3600.0)


def _fit_one(job: tuple) -> tuple[str, str, np.ndarray]:
    equipment_id, sensor_id, series, limit, direction, as_of, config, seed = job
    return equipment_id, sensor_id, crossing_samples(series, limit, direction, as_of, config, seed)


def trend_forecasts(grid: pd.DataFrame, limits: pd.DataFrame, as_of, config: TrendConfig, baseline: BaselineConfig,
                    seed: int = 0, calibration: dict[str, TrendCalibration | None] | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per equipment with at least one sensor that has a limit: SUMMARY_COLUMNS.

    grid: aggregated rows (`config.aggregate`) of each equipment's current run; limits: `sensor_limits`.
    as_of: one time for all, or a mapping equipment_id -> time (backtests forecast many cut-offs at once).
    calibration: per equipment, the calibration of its forecast, or None for Prophet's raw interval; the
    drivers then say which. Left out altogether (backtests), raw intervals and nothing said.
    """
    as_of_for = as_of.get if isinstance(as_of, (dict, pd.Series)) else (lambda _e: as_of)
    limited = limits[limits["direction"] != 0].set_index(["equipment_id", "sensor_id"])
    jobs, screened = [], []
    for (equipment_id, sensor_id), (center, scale, limit, direction), cut, ds, y in sensor_series(
            grid, limited, as_of_for, baseline, config):  # fmt: skip
        if len(y) < config.min_points or screened_out(y, center, scale, limit, config):
            screened.append((equipment_id, sensor_id))
            continue
        series = pd.DataFrame({"ds": ds, "y": y})
        jobs.append((equipment_id, sensor_id, series, float(limit), int(direction), cut, config, seed + len(jobs)))
    results = _run(jobs, config)
    never = np.full(config.uncertainty_samples, np.inf)
    samples: dict[str, dict[str, np.ndarray]] = {}
    for equipment_id, sensor_id in screened:
        samples.setdefault(equipment_id, {})[sensor_id] = never
    for equipment_id, sensor_id, crossing in results:
        samples.setdefault(equipment_id, {})[sensor_id] = crossing
    horizon_hours = config.horizon.total_seconds() / 3600.0
    limit_of = dict(zip(limited.index, zip(limited["alarm_limit"], limited["direction"], strict=True), strict=True))
    rows = []
    for equipment_id in sorted(samples):
        by_sensor = samples[equipment_id]
        first = np.min(np.vstack(list(by_sensor.values())), axis=0)  # the equipment fails when its first sensor crosses
        cal = calibration.get(equipment_id) if calibration is not None else None
        summary = (calibrated_summary(first, cal, config.interval_level, horizon_hours) if cal is not None
                   else summarise_samples(first, config.interval_level, horizon_hours))  # fmt: skip
        notes = [] if calibration is None else [cal.describe() if cal is not None else RAW_NOTE]
        summary["drivers"] = "; ".join([_drivers(equipment_id, by_sensor, limit_of), *notes])
        rows.append({"equipment_id": equipment_id, **summary})
    return pd.DataFrame(rows, columns=["equipment_id"] + SUMMARY_COLUMNS)


def _run(jobs: list[tuple], config: TrendConfig) -> list[tuple[str, str, np.ndarray]]:
    if config.n_jobs > 1 and len(jobs) >= config.parallel_min_series:
        from joblib import Parallel, delayed

        return Parallel(n_jobs=config.n_jobs, batch_size=8)(delayed(_fit_one)(job) for job in jobs)
    if config.n_jobs > 1 and len(jobs) > 1:
        # A few fits (a micro-batch's): threads, not processes. A fit is mostly its cmdstan process, which
        # holds no GIL, so `n_jobs` of them run at once; results as in order (map keeps it).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(config.n_jobs) as pool:
            return list(pool.map(_fit_one, jobs))
    return [_fit_one(job) for job in jobs]



def _drivers(equipment_id: str, by_sensor: dict[str, np.ndarray], limit_of: dict[tuple[str, str], tuple[float, float]],
             top: int = 3) -> str:  # fmt: skip
    """Sensors by median crossing time: 'vibration>7.1 in 35h' (beyond horizon: '... beyond horizon')."""
    order = sorted(by_sensor, key=lambda s: (np.median(by_sensor[s]), -np.mean(np.isfinite(by_sensor[s])), s))
    parts = []
    for sensor_id in order[:top]:
        limit, direction = limit_of[(equipment_id, sensor_id)]
        median = np.median(by_sensor[sensor_id])
        when = f"in {median:.0f}h" if np.isfinite(median) else "beyond horizon"
        parts.append(f"{sensor_id}{'>' if direction > 0 else '<'}{limit:.4g} {when}")
    return "; ".join(parts)
