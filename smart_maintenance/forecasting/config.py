"""Typed forecasting settings, defaults in one place.

Durations are `timedelta`s (the plant's clock); the learned model works on a regular step grid
(`RulConfig.step`), so its windows are counted in steps. Nothing here names a sensor or an equipment
type: every rule applies to whatever sensors the reference data lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from smart_maintenance.fingerprint import fingerprint

# Maintenance events after which an equipment is as good as new: a run-to-failure history starts there.
RESTORING_EVENTS = ("failure", "corrective_repair", "replacement")


@dataclass(frozen=True)
class BaselineConfig:
    """A sensor's healthy level: robust centre/scale of its hourly medians early in the current run."""

    window: timedelta = timedelta(hours=48)  # after the run's start (last repair, or first reading)
    min_points: int = 6  # hourly medians needed for a baseline
    scale_floor_rel: float = 0.005  # scale floor as a fraction of |centre| (a quiet sensor is not perfect)
    idle_z: float = 6.0  # values this far on the safe side of the baseline are stops, not health


@dataclass(frozen=True)
class HealthConfig:
    """Daily health indicator of an equipment (see health.py)."""

    frequency: str = "1D"  # one row per equipment per day
    reference_z: float = 6.0  # distance (in baseline scales) at which health reaches exp(-1)
    trend_days: int = 3  # days of distance the trend (slope per day) is fitted on
    top_sensors: int = 3  # contributing sensors listed


@dataclass(frozen=True)
class TrendConfig:
    """Prophet on a sensor's hourly medians until its (expected) level crosses the alarm limit."""

    aggregate: str = "1h"  # readings are aggregated to this before fitting
    history: timedelta = timedelta(days=21)  # at most this much of the current run is fitted
    min_points: int = 24  # aggregated points needed to fit
    horizon: timedelta = timedelta(days=60)  # beyond this, "beyond horizon" (no date is made up)
    step: timedelta = timedelta(hours=1)  # resolution of the crossing time within the first week
    far_step: timedelta = timedelta(hours=6)  # resolution beyond the first week
    uncertainty_samples: int = 200
    interval_level: float = 0.8
    changepoint_prior_scale: float = 0.05
    changepoint_range: float = 0.9  # late changepoints: wear accelerates towards the end of a run
    daily_seasonality_after: timedelta = timedelta(days=3)  # fit a daily cycle only with this much data
    # Screening: a sensor still inside its healthy band (recent level < screen_z baseline scales towards
    # the limit, and less than screen_margin_used of the way from baseline to limit) is not fitted: it
    # is beyond the horizon by a cheap test. Extrapolating the wander of a healthy sensor for weeks only
    # produces false warnings, and it costs a Prophet fit.
    screen_z: float = 4.0
    screen_margin_used: float = 0.25
    n_jobs: int = 2  # parallel Prophet fits (joblib processes)
    parallel_min_series: int = 40  # below this, fits run in process (process start-up costs more)


@dataclass(frozen=True)
class RulConfig:
    """Learned remaining useful life: gradient boosting on windowed features of run-to-failure histories."""

    step: timedelta = timedelta(hours=1)  # readings are aggregated to this grid (C-MAPSS: one cycle)
    windows: tuple[int, ...] = (10, 30)  # steps: mean and slope features
    ewm_spans: tuple[int, ...] = (10, 30)
    baseline_steps: int = 10  # first steps of a run: features relative to them are unit-independent
    rul_cap_hours: float | None = None  # target cap; None: median history length / 2
    min_failures: int = 3  # histories needed to learn a type's model
    min_history_steps: int = 10  # shorter histories are skipped
    max_samples_per_history: int = 400  # training rows drawn per history (most recent kept densely)
    cv_folds: int = 3  # backtest folds by history (out-of-fold errors and interval calibration)
    interval_level: float = 0.8
    max_iter: int = 150
    learning_rate: float = 0.1
    max_bins: int = 63
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    threads: int = 1  # OpenMP threads per fit (the caller parallelises across processes if it wants)
    constant_tolerance: float = 1e-6  # sensors with this little spread in training are dropped


@dataclass(frozen=True)
class SelectionConfig:
    """Per equipment type, the method with the lower backtest RMSE (hours, capped target) is used."""

    trend_backtest_points: int = 4  # truncation points per training history for the trend backtest
    learned_margin: float = 1.0  # learned wins when its RMSE <= margin x trend RMSE


@dataclass(frozen=True)
class CalibrationConfig:
    """The trend method's interval and point calibrated on backtests of past failures (calibration.py)."""

    enabled: bool = True
    target_points: int = 60  # backtest cut-offs wanted per equipment type ...
    max_points_per_history: int = 20  # ... spread over its histories, at least selection.trend_backtest_points each
    min_points: int = 10  # in-horizon backtest forecasts needed to calibrate
    min_type_histories: int = 3  # a type is calibrated on its own failures from this many; with fewer, ...
    pool_types: bool = True  # ... on the failures of all types pooled (None of either: Prophet's raw interval)


@dataclass(frozen=True)
class ForecastConfig:
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    trend: TrendConfig = field(default_factory=TrendConfig)
    rul: RulConfig = field(default_factory=RulConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    recent: timedelta = timedelta(days=2)  # equipment with a reading this recent gets a forecast row

    def fingerprint(self) -> str:
        """Short hash of every setting: stored with fitted models and in their versions."""
        return fingerprint(self)
