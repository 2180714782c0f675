"""Calibrating the trend method's interval (and point) on backtests of past failures.

Why: the trend method forecasts when a sensor's level will cross its alarm limit. An equipment fails
some time *after* the alarm (the limit is set so that the alarm comes first), and Prophet's
uncertainty covers only its own extrapolation, not how a degradation accelerates. Left raw, the
crossing time is early and its interval too narrow (on the synthetic plant: 0.49 coverage at a
nominal 0.80).

How (conformalised quantile regression with separate margins for each bound, Romano et al. 2019):
backtest.py replays the trend method at cut-offs of every run-to-failure history known at the fit
time, which gives per cut-off the raw interval L <= m <= U and the true remaining life T (hours).
In the time scale g(t) = log(t + k), with k the median T of the points (errors are additive close
to a failure, where the alarm-to-failure lead dominates, and proportional far from it):

- point:  m' = g⁻¹(g(m) + median(g(T) - g(m)))
- lower:  L' = g⁻¹(g(L) - q_lo), q_lo the conformal (1 - a/2) quantile of g(L) - g(T)
- upper:  U' = g⁻¹(g(U) + q_hi), q_hi the conformal (1 - a/2) quantile of g(T) - g(U)

with a = 1 - interval_level, so each bound is missed at most a/2 of the time when the new forecast
is like the calibration ones. Equivalently (t + k) is multiplied by `lower_factor`, `point_factor`,
`upper_factor`. Whole forecasts (their uncertainty samples) are mapped by the monotone map through
those three anchors, so `p_fail_7d`/`p_fail_30d` move with them. Calibrated bounds are whole multiples
of `floor_hours` (the trend's step), never below one, and what lands beyond the horizon stays beyond
it (no made-up date).

Honesty: `coverage` is the calibrated coverage leave-one-history-out (each history's points scored by
a calibration fitted on the other histories); `in_sample_coverage` is the optimistic in-sample one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.config import CalibrationConfig
from smart_maintenance.forecasting.summary import quantiles, summarise_samples

ALL_TYPES = "all types"  # scope of a calibration pooled over every equipment type
RAW_NOTE = "raw Prophet interval (no past failure to calibrate on)"


@dataclass(frozen=True)
class TrendCalibration:
    """Factors on (t + offset_hours) for the lower bound, the point and the upper bound (plain data)."""

    scope: str  # an equipment type, or ALL_TYPES
    n_histories: int
    n_points: int  # in-horizon backtest forecasts it was fitted on
    offset_hours: float
    lower_factor: float
    point_factor: float
    upper_factor: float
    level: float
    raw_coverage: float  # Prophet's raw interval on the calibration points
    in_sample_coverage: float
    coverage: float  # leave-one-history-out (NaN with a single history)
    floor_hours: float = 1.0
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False)  # points, with LOHO values

    def interval(self, lower, median, upper) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Calibrated (lower, median, upper) from raw ones (arrays or scalars; an infinite upper stays so)."""
        factors = (self.lower_factor, self.point_factor, self.upper_factor)
        return _calibrate(self.offset_hours, factors, self.floor_hours, lower, median, upper)

    def describe(self) -> str:
        """What a forecast's drivers say about its interval."""
        return f"calibrated on {self.n_histories} past failure{'s' * (self.n_histories != 1)} ({self.scope})"

    def metadata(self) -> dict:
        return {"scope": self.scope, "n_histories": self.n_histories, "n_points": self.n_points,
                "offset_hours": round(self.offset_hours, 1), "lower_factor": round(self.lower_factor, 3),
                "point_factor": round(self.point_factor, 3), "upper_factor": round(self.upper_factor, 3),
                "raw_coverage": round(self.raw_coverage, 3), "coverage_loho": round(self.coverage, 3),
                "in_sample_coverage": round(self.in_sample_coverage, 3)}  # fmt: skip


def calibrated_summary(samples: np.ndarray, calibration: TrendCalibration, level: float, horizon_hours: float) -> dict:
    """summary.summarise_samples of a trend forecast after calibration (same semantics and keys)."""
    s = np.sort(np.asarray(samples, float))
    raw = quantiles(s, level)
    lo, med, hi = (float(v) for v in calibration.interval(*raw))
    mapped = _monotone_map(s, raw, (lo, med, hi), calibration.offset_hours)
    mapped = np.where(mapped > horizon_hours, np.inf, np.maximum(mapped, calibration.floor_hours))
    out = summarise_samples(mapped, level, horizon_hours)  # the probabilities of failing within 7 / 30 days
    # The bounds are the calibrated anchors themselves (the mapped samples agree except where Prophet's
    # samples had no spread, e.g. a sensor already beyond its limit).
    beyond = not med <= horizon_hours
    out.update(rul_hours=np.nan if beyond else med, rul_lower_hours=min(lo, horizon_hours),
               rul_upper_hours=hi if hi <= horizon_hours else np.nan, beyond_horizon=beyond)  # fmt: skip
    return out


def _monotone_map(s: np.ndarray, raw, cal, k: float) -> np.ndarray:
    """Piecewise linear in log(t + k) through the anchors raw -> cal, shifted beyond the outer ones; inf stays inf."""
    anchors: dict[float, float] = {}
    for x, y in zip(raw, cal, strict=True):  # (lower, median, upper): on a tie the median's anchor wins
        if np.isfinite(x) and np.isfinite(y) and (_log_time(x, k) not in anchors or (x, y) == (raw[1], cal[1])):
            anchors[float(_log_time(x, k))] = float(_log_time(y, k))
    out = np.full(len(s), np.inf)
    finite = np.isfinite(s)
    if not anchors:
        return np.where(finite, s, np.inf)
    xs = np.array(sorted(anchors))
    ys = np.maximum.accumulate(np.array([anchors[x] for x in xs]))
    gs = _log_time(s[finite], k)
    mapped = np.interp(gs, xs, ys)
    mapped = np.where(gs < xs[0], gs + ys[0] - xs[0], np.where(gs > xs[-1], gs + ys[-1] - xs[-1], mapped))
    out[finite] = np.exp(mapped) - k
    return out


def fit_calibration(points: pd.DataFrame, scope: str, level: float, config: CalibrationConfig,
                    floor_hours: float = 1.0) -> TrendCalibration | None:  # fmt: skip
    """A calibration from backtest rows (backtest.BACKTEST_COLUMNS); None with too few usable points.

    Usable: the replay was inside the horizon (it gave a date) and the cut-off was not after the failure.
    """
    pts = points[points["trend_median"].notna() & (points["rul_true"] >= 0)].reset_index(drop=True)
    if len(pts) < config.min_points:
        return None
    raw = (pts["trend_lower"], pts["trend_median"], pts["trend_upper"])
    k, factors = _factors(pts, level, floor_hours)
    lo, _, hi = _calibrate(k, factors, floor_hours, *raw)
    loho = np.full((len(pts), 3), np.nan)  # each history scored by a calibration fitted on the others
    for history_id in pts["history_id"].unique():
        own = (pts["history_id"] == history_id).to_numpy()
        if (~own).sum() >= config.min_points:
            loho[own] = np.column_stack(_calibrate(*_factors(pts[~own], level, floor_hours), floor_hours, *(r[own] for r in raw)))
    scored = ~np.isnan(loho[:, 1])
    return TrendCalibration(
        scope, int(pts["history_id"].nunique()), len(pts), k, *factors, level=level,
        raw_coverage=_covered(pts["trend_lower"], pts["trend_upper"], pts["rul_true"]),
        in_sample_coverage=_covered(lo, hi, pts["rul_true"]),
        coverage=_covered(loho[scored, 0], loho[scored, 2], pts.loc[scored, "rul_true"]) if scored.any() else np.nan,
        floor_hours=floor_hours,
        backtest=pts.assign(calibrated_lower=loho[:, 0], calibrated_median=loho[:, 1], calibrated_upper=loho[:, 2]),
    )  # fmt: skip


def fit_calibrations(points: pd.DataFrame, level: float, config: CalibrationConfig, floor_hours: float = 1.0) -> dict[str, TrendCalibration]:
    """Per equipment type with >= `min_type_histories` histories, and pooled over all types (ALL_TYPES)."""
    out: dict[str, TrendCalibration] = {}
    if not config.enabled or not len(points):
        return out
    for equipment_type, part in points.groupby("equipment_type", sort=True):
        if part["history_id"].nunique() >= config.min_type_histories:
            fitted = fit_calibration(part, str(equipment_type), level, config, floor_hours)
            if fitted is not None:
                out[str(equipment_type)] = fitted
    if config.pool_types:
        pooled = fit_calibration(points, ALL_TYPES, level, config, floor_hours)
        if pooled is not None:
            out[ALL_TYPES] = pooled
    return out


def _factors(pts: pd.DataFrame, level: float, floor_hours: float) -> tuple[float, tuple[float, float, float]]:
    """(k, (lower_factor, point_factor, upper_factor)) from usable backtest points."""
    k = max(float(np.median(pts["rul_true"])), floor_hours)
    truth, lower, median, upper = (_log_time(pts[c], k) for c in ("rul_true", "trend_lower", "trend_median", "trend_upper"))
    side = 1.0 - (1.0 - level) / 2.0
    q_lo, q_hi = _conformal_quantile(lower - truth, side), _conformal_quantile(truth - upper, side)
    q_hi = q_hi if np.isfinite(q_hi) else 0.0  # no finite upper bound among the points: nothing to learn about it
    return k, (float(np.exp(-q_lo)), float(np.exp(np.median(truth - median))), float(np.exp(q_hi)))


def _calibrate(k: float, factors, floor_hours: float, lower, median, upper) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rounded to whole `floor_hours` (the trend's resolution: no false precision), never below one."""
    lo, med, hi = (np.maximum(np.round(((np.asarray(x, float) + k) * f - k) / floor_hours) * floor_hours, floor_hours)
                   for x, f in zip((lower, median, upper), factors, strict=True))  # fmt: skip
    return np.minimum(lo, med), med, np.maximum(hi, med)


def _log_time(t, k: float) -> np.ndarray:
    """The calibration's time scale g(t) = log(t + k)."""
    return np.log(np.asarray(t, float) + k)


def _conformal_quantile(scores: np.ndarray, q: float) -> float:
    """The ceil((n + 1) q)-th smallest score (the largest when that exceeds n): split-conformal margin."""
    s = np.sort(np.asarray(scores, float))
    s = s[~np.isnan(s)]
    rank = min(len(s), int(np.ceil((len(s) + 1) * q)))
    return float(s[rank - 1])


def _covered(lower, upper, truth) -> float:
    t, lo, hi = (np.asarray(x, float) for x in (truth, lower, upper))
    return float(np.mean((t >= lo) & (t <= hi))) if len(t) else float("nan")
