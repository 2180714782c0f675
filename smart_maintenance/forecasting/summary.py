"""From a forecast's uncertainty (samples or quantiles) to the numbers of a failure_forecasts row.

Semantics shared by both methods:
- `rul_hours` is the median remaining life, `rul_lower_hours`/`rul_upper_hours` the central interval at
  `interval_level` (e.g. 0.8: the 10 % and 90 % quantiles).
- `beyond_horizon` is True when the median lies beyond what the method can see (the trend horizon,
  or the learned model's RUL cap). Then `rul_hours` and `rul_upper_hours` are null (no made-up date)
  and `rul_lower_hours` says "not before": the lower quantile if finite, else the horizon.
- `p_fail_7d` / `p_fail_30d`: probability that the failure comes within 7 / 30 days. When a window
  reaches past the method's horizon, it is the probability of failing within the horizon (a lower bound).
"""

from __future__ import annotations

import numpy as np

SUMMARY_COLUMNS = ["rul_hours", "rul_lower_hours", "rul_upper_hours", "p_fail_7d", "p_fail_30d", "beyond_horizon", "drivers"]
WINDOWS_HOURS = {"p_fail_7d": 7 * 24.0, "p_fail_30d": 30 * 24.0}


def summarise_samples(samples: np.ndarray, level: float, horizon_hours: float) -> dict:
    """Samples of the time to failure in hours (+inf: not within the horizon)."""
    s = np.sort(np.asarray(samples, float))
    lo, med, hi = quantiles(s, level)
    beyond = not np.isfinite(med)
    out = {
        "rul_hours": np.nan if beyond else med,
        "rul_lower_hours": lo if np.isfinite(lo) else horizon_hours,
        "rul_upper_hours": hi if np.isfinite(hi) else np.nan,
        "beyond_horizon": beyond,
        "drivers": "",
    }
    for name, hours in WINDOWS_HOURS.items():
        out[name] = float(np.mean(s <= hours))
    return out


def quantiles(sorted_samples: np.ndarray, level: float) -> tuple[float, float, float]:
    """The central interval's bounds and the median of sorted samples (+inf samples allowed)."""
    alpha = (1.0 - level) / 2.0
    return tuple(_empirical_quantile(sorted_samples, q) for q in (alpha, 0.5, 1.0 - alpha))


def summarise_quantiles(lower: float, median: float, upper: float, level: float, horizon_hours: float) -> dict:
    """Quantiles (at (1-level)/2, 0.5, 1-(1-level)/2) of a model whose predictions stop at `horizon_hours`."""
    lower, upper = min(lower, median), max(upper, median)
    beyond = median >= horizon_hours * 0.98  # at the cap: the model only says "healthy for now"
    out = {
        "rul_hours": np.nan if beyond else median,
        "rul_lower_hours": lower,
        "rul_upper_hours": np.nan if beyond or upper >= horizon_hours * 0.98 else upper,
        "beyond_horizon": bool(beyond),
        "drivers": "",
    }
    for name, hours in WINDOWS_HOURS.items():
        out[name] = quantile_cdf(min(hours, horizon_hours), lower, median, upper, level)
    return out


def quantile_cdf(hours: float, lower: float, median: float, upper: float, level: float) -> float:
    """P(RUL <= hours) from three quantiles: piecewise-linear CDF, tails as wide as the inner halves."""
    alpha = (1.0 - level) / 2.0
    xs = [max(0.0, lower - (median - lower)), lower, median, upper, upper + (upper - median)]
    ps = [0.0, alpha, 0.5, 1.0 - alpha, 1.0]
    xs = np.maximum.accumulate(np.asarray(xs, float) + np.arange(5) * 1e-9)  # strictly increasing
    return float(np.clip(np.interp(hours, xs, ps, left=0.0, right=1.0), 0.0, 1.0))


def _empirical_quantile(sorted_samples: np.ndarray, q: float) -> float:
    """Inverted-CDF quantile: no interpolation, so +inf samples stay +inf instead of becoming NaN."""
    n = len(sorted_samples)
    if n == 0:
        return np.inf
    return float(sorted_samples[min(n - 1, max(0, int(np.ceil(q * n)) - 1))])
