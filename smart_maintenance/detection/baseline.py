"""Robust per-sensor baseline: what a sensor's normal readings look like, learned from history.

Center = median, scale = 1.4826 * MAD (std when the sensor is quantised and MAD is 0), computed twice:
the second pass excludes readings beyond `trim_z` of the first, so earlier anomalies in the training
window do not widen the baseline. While a sensor's history is short its sigma is shrunk towards a prior
scale (a fraction of its level or of its valid range): no sensor is ever judged against a frozen or
zero sigma.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.readings import KEY, group_starts, micros, run_length

BASELINE_COLUMNS = [
    "equipment_id", "sensor_id", "sensor_type", "n", "center", "scale", "diff_scale", "interval_s",
    "max_run", "valid_min", "valid_max", "alarm_limit", "first_timestamp", "last_timestamp",
]  # fmt: skip
REFERENCE_COLUMNS = ("valid_min", "valid_max", "alarm_limit")


def fit_baselines(train: pd.DataFrame, config: DetectionConfig, sensors: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per sensor of `train` (prepared readings) and of the `sensors` reference (valid range, type).

    Sensors known only from the reference get n = 0: their center comes on-line from recent readings
    and their scale from the prior.
    """
    return with_reference(sensor_baselines(train, config), sensors)


def sensor_baselines(train: pd.DataFrame, config: DetectionConfig) -> pd.DataFrame:
    """The learned part of `fit_baselines`: one row per sensor of `train`, in its (sorted) order. Each row
    depends only on its own sensor's readings, so sensors may be fitted in separate chunks."""
    rows = []
    values = train["value"].to_numpy()
    times = micros(train["timestamp"]) / 1e6
    starts = group_starts(train[KEY])
    runs = run_length(values, starts, config.detectors.stuck_window)
    bounds = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]]) if len(train) else np.zeros(0, int)
    ends = np.r_[bounds[1:], len(train)]
    for a, b in zip(bounds, ends):
        x = values[a:b]
        ok = ~np.isnan(x)
        center, scale, n = _robust(x[ok], config.baseline.trim_z)
        d = np.diff(x)
        d = d[~np.isnan(d)]
        _, diff_scale, _ = _robust(d, config.baseline.trim_z) if len(d) else (0.0, 0.0, 0)
        dt = np.diff(times[a:b])
        rows.append(
            {
                "equipment_id": train["equipment_id"].iat[a],
                "sensor_id": train["sensor_id"].iat[a],
                "sensor_type": train["sensor_type"].iat[b - 1],
                "n": n,
                "center": center,
                "scale": scale,
                "diff_scale": diff_scale,
                "interval_s": float(np.median(dt)) if len(dt) else np.nan,
                "max_run": int(runs[a:b].max()),
                "first_timestamp": train["timestamp"].iat[a],
                "last_timestamp": train["timestamp"].iat[b - 1],
            }
        )
    return pd.DataFrame(rows, columns=[c for c in BASELINE_COLUMNS if c not in REFERENCE_COLUMNS])


def with_reference(out: pd.DataFrame, sensors: pd.DataFrame | None = None) -> pd.DataFrame:
    """Learned sensor rows joined with the `sensors` reference (valid range, alarm limit, type)."""
    if sensors is not None and len(sensors):
        ref = sensors.copy()
        ref["equipment_id"] = ref["equipment_id"].astype(str)
        ref["sensor_id"] = ref["sensor_id"].astype(str)
        cols = KEY + [c for c in (*REFERENCE_COLUMNS, "sensor_type") if c in ref]
        out = out.merge(ref[cols], on=KEY, how="outer", suffixes=("", "_ref"))
        if "sensor_type_ref" in out:
            out["sensor_type"] = out["sensor_type"].where(out["sensor_type"].notna(), out.pop("sensor_type_ref"))
        out["n"] = out["n"].fillna(0).astype(np.int64)
        out["max_run"] = out["max_run"].fillna(0).astype(np.int64)
    for col in REFERENCE_COLUMNS:
        if col not in out:
            out[col] = np.nan
    return out[BASELINE_COLUMNS].reset_index(drop=True)


def _robust(x: np.ndarray, trim_z: float) -> tuple[float, float, int]:
    """(center, sigma, readings kept) with one trimming pass; sigma may be 0 for a constant series."""
    if len(x) == 0:
        return np.nan, np.nan, 0
    for _ in range(2):
        center = float(np.median(x))
        dev = np.abs(x - center)
        sigma = 1.4826 * float(np.median(dev))
        if sigma == 0.0:
            sigma = float(np.std(x))
        if sigma == 0.0:
            break
        kept = x[dev <= trim_z * sigma]
        if len(kept) == len(x) or len(kept) < 3:
            break
        x = kept
    return center, sigma, len(x)


def prior_scale(center: np.ndarray, valid_min: np.ndarray, valid_max: np.ndarray, config: DetectionConfig) -> np.ndarray:
    """Scale assumed before data says otherwise: a fraction of the valid range, else of the level."""
    cfg = config.baseline
    span = np.asarray(valid_max, float) - np.asarray(valid_min, float)
    base = np.where(np.isfinite(span) & (span > 0), span, np.abs(np.asarray(center, float)))
    return np.maximum(cfg.prior_scale_rel * np.nan_to_num(base), cfg.prior_scale_abs)


def shrunk_scale(scale: np.ndarray, n: np.ndarray, prior: np.ndarray, config: DetectionConfig) -> np.ndarray:
    """sqrt((n s^2 + w p^2) / (n + w)): the prior dominates until a sensor has many more than w readings."""
    w = config.baseline.prior_weight
    s = np.nan_to_num(np.asarray(scale, float))
    n = np.asarray(n, float)
    return np.sqrt((n * s**2 + w * prior**2) / (n + w))
