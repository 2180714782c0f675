"""Univariate detectors, one per way a single sensor's readings go wrong.

Each returns a *ratio*: its raw statistic divided by the configured reference, so 1.0 is the decision
boundary for every detector and every sensor (NaN: not computable, e.g. a sensor's first reading).
All of them look back a bounded number of readings of the same sensor (see `DetectionConfig`).

- deviation      |value - center| / sigma against the sensor's baseline, or the mean of the signed z
                 over the last `smooth_window` readings (a small level shift or drift), whichever is larger
- rate_of_change |value - previous| / sigma of differences (spikes, steps)
- stuck          identical consecutive readings, relative to the longest run seen in normal operation
                 (so a quantised or normally constant sensor is not called stuck)
- gap            interval since the previous reading / usual interval (a dropout, seen when data resumes)
- out_of_range   outside the sensor's physical range (valid_min / valid_max from reference data)
- alarm_limit    (value - center) / (alarm_limit - center): 1.0 at the engineer's alarm limit from
                 reference data, on whichever side of the baseline the limit lies (rising or falling)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.detection.baseline import prior_scale, shrunk_scale
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.readings import KEY, group_starts, micros, previous, run_length, trailing_mean
from smart_maintenance.detection.resets import Segments, apply_rebaselines

UNIVARIATE_DETECTORS = ("deviation", "rate_of_change", "stuck", "gap", "out_of_range", "alarm_limit")


def univariate_ratios(frame: pd.DataFrame, baselines: pd.DataFrame, config: DetectionConfig,
                      seg: Segments | None = None) -> dict[str, np.ndarray]:
    """Ratios for every row of `frame` (prepared readings, sorted by sensor then time).

    seg: the rows' re-baselines after repairs (resets.segments): each reset starts a new segment of the
    sensor, whose readings are judged against the segment's own baseline and earlier readings only.
    """
    d = config.detectors
    starts = group_starts(frame[KEY]) if seg is None else seg.starts
    x = frame["value"].to_numpy()
    t = micros(frame["timestamp"]) / 1e6
    b = _per_row(frame, baselines)
    fitted_scale = apply_rebaselines(b, seg) if seg is not None else None

    online = ~(b["n"] > 0)
    center, scale, n = b["center"].copy(), b["scale"].copy(), b["n"].astype(float)
    prev_dt = t - previous(t, starts)
    interval = b["interval_s"].copy()
    if online.any():
        oc, os_, on, oi = _online_baseline(frame, online, x, prev_dt, starts, config)
        center[online], scale[online], n[online] = oc, os_, on
        interval[online] = oi
    if fitted_scale is not None:  # a warm-up after a repair keeps at least the spread the sensor had
        scale = np.where(seg.warm, np.fmax(scale, fitted_scale), scale)
    prior = prior_scale(center, b["valid_min"], b["valid_max"], config)
    sigma = shrunk_scale(scale, n, prior, config)
    diff_scale = np.where(online, np.sqrt(2) * np.nan_to_num(scale), b["diff_scale"])
    diff_sigma = shrunk_scale(diff_scale, n, np.sqrt(2) * prior, config)

    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - center) / sigma
        smooth = trailing_mean(z, starts, d.smooth_window)
        deviation = np.fmax(np.abs(z) / d.deviation_z, np.abs(smooth) / d.deviation_mean_z)
        rate = np.abs(x - previous(x, starts)) / diff_sigma / d.rate_z
        run_ref = np.maximum(d.stuck_min_run, d.stuck_run_factor * np.nan_to_num(b["max_run"]))
        stuck = (run_length(x, starts, d.stuck_window) - 1) / (run_ref - 1)
        gap = prev_dt / interval / d.gap_factor
        span = b["valid_max"] - b["valid_min"]
        span = np.where(np.isfinite(span) & (span > 0), span, 1.0)
        excess = np.fmax(np.nan_to_num(b["valid_min"] - x, nan=-np.inf), np.nan_to_num(x - b["valid_max"], nan=-np.inf))
        out_of_range = np.where(excess > 0, 1.0 + excess / span, 0.0)
        toward = b["alarm_limit"] - center  # signed distance from the baseline to the limit
        alarm = np.where(np.isfinite(toward) & (toward != 0), (x - center) / toward, np.nan)
        alarm_limit = np.where(alarm > 0, alarm, np.where(np.isnan(alarm), np.nan, 0.0))
    return {
        "deviation": deviation,
        "rate_of_change": rate,
        "stuck": stuck,
        "gap": gap,
        "out_of_range": out_of_range,
        "alarm_limit": alarm_limit,
    }


def _per_row(frame: pd.DataFrame, baselines: pd.DataFrame) -> dict[str, np.ndarray]:
    """Baseline columns aligned to the rows of `frame` (NaN / 0 for sensors without a baseline)."""
    cols = ["n", "center", "scale", "diff_scale", "interval_s", "max_run", "valid_min", "valid_max", "alarm_limit"]
    if len(baselines) == 0:
        return {c: np.full(len(frame), 0.0 if c in ("n", "max_run") else np.nan) for c in cols}
    index = pd.MultiIndex.from_frame(baselines[KEY])
    pos = index.get_indexer(pd.MultiIndex.from_frame(frame[KEY]))
    found = pos >= 0
    out = {}
    for c in cols:
        src = baselines[c].to_numpy(dtype=float)
        out[c] = np.where(found, src[np.where(found, pos, 0)], 0.0 if c in ("n", "max_run") else np.nan)
    return out


def _online_baseline(frame, mask, x, prev_dt, starts, config):
    """Center, sigma, count and usual interval from the readings *before* each row (bounded window) of
    the same sensor (and segment: `starts` tells where each row's group begins)."""
    window = config.baseline.trailing_window
    keys = starts[mask]
    before = pd.Series(previous(x, starts)[mask])
    dts = pd.Series(previous(prev_dt, starts)[mask])
    grouped = before.groupby(keys, sort=False)
    roll = grouped.rolling(window, min_periods=1)
    center = roll.median().to_numpy()
    iqr = (roll.quantile(0.75) - roll.quantile(0.25)).to_numpy() / 1.349
    count = roll.count().to_numpy()
    interval = dts.groupby(keys, sort=False).rolling(window, min_periods=1).median().to_numpy()
    # groupby-rolling returns rows grouped by key in first-appearance order: the frame is already so ordered
    return center, iqr, count, interval
