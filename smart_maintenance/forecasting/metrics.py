"""Forecast quality: RMSE, the NASA (PHM08) scoring function, interval coverage.

d = predicted - true remaining life. The NASA score penalises late predictions (d > 0: failure comes
before the forecast) more than early ones: sum of exp(-d/13) - 1 for d < 0 and exp(d/10) - 1 for d >= 0.
For C-MAPSS the truth and the predictions are capped at 125 cycles (the usual convention).
"""

from __future__ import annotations

import numpy as np


def rmse(predicted, true) -> float:
    d = np.asarray(predicted, float) - np.asarray(true, float)
    return float(np.sqrt(np.mean(d**2))) if len(d) else float("nan")


def nasa_score(predicted, true) -> float:
    d = np.asarray(predicted, float) - np.asarray(true, float)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def coverage(lower, upper, true) -> float:
    """Share of truths inside [lower, upper] (a null upper bound is unbounded)."""
    t = np.asarray(true, float)
    lo = np.nan_to_num(np.asarray(lower, float), nan=-np.inf)
    hi = np.nan_to_num(np.asarray(upper, float), nan=np.inf)
    return float(np.mean((t >= lo) & (t <= hi))) if len(t) else float("nan")


def mean_interval_width(lower, upper) -> float:
    w = np.asarray(upper, float) - np.asarray(lower, float)
    return float(np.nanmean(w)) if len(w) else float("nan")
