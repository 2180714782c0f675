"""Windowed features of a run's readings, for the learned remaining-useful-life model.

A run (one unit: an equipment's current run, or one run-to-failure history) is put on a regular step
grid with one column per sensor; every feature of a step uses that step and earlier ones only, so the
same function serves training (every step of a history) and prediction (the last step of a run).

Per sensor: the last value; its difference from the run's first `baseline_steps` (unit-independent:
units of a type differ in level); mean (relative to the baseline) and least-squares slope over each window; exponentially
weighted means. Per run: `age_steps`, the steps since the run began. Missing steps are carried
forward; a sensor missing at the very start of a run takes its first value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.config import RulConfig


def wide_runs(grid: pd.DataFrame, unit: str, step: pd.Timedelta) -> dict[str, pd.DataFrame]:
    """Per unit, a (timestamp x sensor) frame on a regular grid from its first to its last step."""
    out = {}
    for unit_id, part in grid.groupby(unit, sort=True):
        wide = part.pivot_table(index="timestamp", columns="sensor_id", values="value", aggfunc="median")
        full = pd.date_range(wide.index.min(), wide.index.max(), freq=step)
        out[str(unit_id)] = wide.reindex(full).ffill().bfill()
    return out


def run_features(wide: pd.DataFrame, sensors: list[str], config: RulConfig) -> pd.DataFrame:
    """Feature rows (index: the run's timestamps) for the given sensor columns (missing ones: NaN)."""
    x = wide.reindex(columns=sensors).to_numpy(float)  # (T, S)
    t = len(x)
    cols: dict[str, np.ndarray] = {}
    baseline = np.nanmean(x[: config.baseline_steps], axis=0)
    for j, s in enumerate(sensors):
        cols[f"{s}|last"] = x[:, j]
        cols[f"{s}|rel"] = x[:, j] - baseline[j]
    for w in config.windows:
        mean, slope = _window_mean_slope(x, w)
        for j, s in enumerate(sensors):
            cols[f"{s}|mean{w}"] = mean[:, j] - baseline[j]
            cols[f"{s}|slope{w}"] = slope[:, j]
    frame = pd.DataFrame(x, columns=sensors)
    for span in config.ewm_spans:
        ewm = frame.ewm(span=span, adjust=True).mean().to_numpy()
        for j, s in enumerate(sensors):
            cols[f"{s}|ewm{span}"] = ewm[:, j] - baseline[j]
    cols["age_steps"] = np.arange(t, dtype=float)
    return pd.DataFrame(cols, index=wide.index)


def _window_mean_slope(x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and least-squares slope (per step) over the last `w` steps (fewer at the start), by cumsums."""
    t = x.shape[0]
    i = np.arange(t, dtype=float)[:, None]
    xz = np.nan_to_num(x)
    valid = (~np.isnan(x)).astype(float)

    def windowed(a: np.ndarray) -> np.ndarray:
        c = np.vstack([np.zeros((1, a.shape[1])), np.cumsum(a, axis=0)])
        lo = np.maximum(np.arange(t) - w + 1, 0)
        return c[np.arange(t) + 1] - c[lo]

    n = windowed(valid)
    sx, si = windowed(xz), windowed(valid * i)
    sii, six = windowed(valid * i * i), windowed(xz * i)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, sx / n, np.nan)
        var = sii - si * si / n
        slope = np.where((n > 1) & (var > 1e-12), (six - si * sx / n) / var, 0.0)
    return mean, slope
