"""Typed detection settings, defaults in one place.

Every window is counted in readings (per sensor) or in equipment time steps (per equipment), never in
wall-clock time: a count-based window depends only on the readings inside it, which is what makes a
score identical whether a period is scored in one call or in many micro-batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from smart_maintenance.fingerprint import fingerprint


@dataclass(frozen=True)
class BaselineConfig:
    """Robust per-sensor baseline (median / MAD), with a prior scale for sensors with short history."""

    training_window: timedelta = timedelta(days=28)  # trailing window fit_models learns from (4 weekly models)
    max_training_readings: int = 50_000  # per sensor, most recent first
    trim_z: float = 5.0  # readings this far from the first-pass baseline are excluded (earlier anomalies)
    prior_weight: float = 30.0  # pseudo-readings of the prior scale: shrinks sigma while history is short
    prior_scale_rel: float = 0.02  # prior sigma as a fraction of |center| (or of valid_max - valid_min)
    prior_scale_abs: float = 1e-3  # prior sigma floor, in the sensor's unit
    trailing_window: int = 100  # readings used for an on-line baseline when a sensor has no fitted one


@dataclass(frozen=True)
class ResetConfig:
    """Baselines restart after a repair (issue 5): a repaired or replaced part may have a new normal.

    After an event of `event_types` a sensor's baseline is re-learned, causally, from its first
    `readings` readings after the event (or those within `max_duration` of it, if fewer come); until
    then the sensor is in warm-up and its alerts are not credible. The re-learned level replaces the
    fitted one only if it moved by `min_shift_z` fitted sigmas or more: a hundred readings rarely cover
    a daily cycle, and a replaced transmitter usually reads as the old one did. Later weekly models learn
    only from readings after the event, once they span `min_training_span`.
    """

    event_types: tuple[str, ...] = ("corrective_repair", "replacement")
    readings: int = 100  # at most baseline.trailing_window: the warm-up baseline looks back this far
    max_duration: timedelta = timedelta(days=7)
    min_shift_z: float = 2.5  # smaller moves keep the fitted baseline (they stay under deviation_mean_z)
    min_training_span: timedelta = timedelta(days=1)  # a daily cycle: less, and the next model keeps it pending


@dataclass(frozen=True)
class DetectorConfig:
    """Reference levels: a detector's raw statistic divided by its reference is 1.0 at the decision boundary."""

    deviation_z: float = 6.0  # |value - center| / sigma
    deviation_mean_z: float = 4.0  # |mean of signed z over smooth_window| (slow drift, level shift)
    smooth_window: int = 30
    rate_z: float = 8.0  # |value - previous| / sigma of differences
    stuck_min_run: int = 10  # identical consecutive readings that mean "stuck"...
    stuck_run_factor: float = 2.0  # ...or this times the longest identical run seen in training
    stuck_window: int = 120  # runs are counted up to this many readings (bounded look-back)
    gap_factor: float = 5.0  # an interval this many times the usual sampling interval is a dropout


@dataclass(frozen=True)
class MultivariateConfig:
    """Per-equipment model: Hotelling T^2 of smoothed, standardised sensor features (a MEWMA-style chart)."""

    enabled: bool = True
    smooth_window: int = 30  # equipment time steps averaged before the T^2
    diff_lag: int = 10  # slow sensors enter as value(t) - value(t - diff_lag)
    slow_sensor_types: tuple[str, ...] = ("temperature",)  # level drifts with ambient/load: use rate
    ffill_limit: int = 5  # a sensor's last value is carried at most this many steps to align sensors
    ridge: float = 0.05  # added to the feature covariance (standardised units) for stability
    min_training_steps: int = 100
    scale_floor_rel: float = 1e-3  # sigma floor for sensors (nearly) constant in training
    reference_quantile: float = 0.99  # of training T^2 ...
    reference_factor: float = 4.0  # ... times this = the T^2 at the decision boundary


@dataclass(frozen=True)
class ScoringConfig:
    threshold: float = 0.5  # calibrated score at or above which a reading is anomalous
    threshold_by_sensor_type: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertConfig:
    max_gap: timedelta = timedelta(minutes=5)  # anomalous readings closer than this share an episode
    persistent_readings: int = 10  # this many anomalous readings make an episode persistent
    score_levels: tuple[float, float, float] = (0.65, 0.8, 0.95)  # peak score steps: +1 severity each
    criticality_points: dict[str, int] = field(
        default_factory=lambda: {"low": -1, "medium": 0, "high": 1, "critical": 2}
    )


@dataclass(frozen=True)
class ValidationConfig:
    corroboration_window: timedelta = timedelta(minutes=10)
    maintenance_window: timedelta = timedelta(hours=24)
    min_persistent_readings: int = 3
    min_data_quality: float = 0.8  # share of readings in the episode window without gap or missing value
    credible_peak_score: float = 0.8  # an uncorroborated persistent episode needs this peak to be credible
    # Operating state: when the equipment's load sensors read near idle, it is stopped (or starting up);
    # episodes then are operating-state changes to look at, not fault signatures.
    load_sensor_types: tuple[str, ...] = ("speed", "current", "power", "flow")
    idle_fraction: float = 0.1  # a load reading below this fraction of its typical level is idle
    stopped_share: float = 0.5  # share of idle load readings in the episode window that means "stopped"
    state_margin: timedelta = timedelta(minutes=30)  # the window looks this far before the episode (start-ups)


@dataclass(frozen=True)
class CheckConfig:
    """Bounds of the stage checks (see checks.py)."""

    max_alerts_per_equipment_day: float = 24.0  # more is an alert storm: miscalibration
    drift_ks_max: float = 0.3  # KS statistic above which a sensor's distribution has drifted
    drift_min_readings: int = 50  # per window, below this a sensor is not judged


@dataclass(frozen=True)
class DetectionConfig:
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    detectors: DetectorConfig = field(default_factory=DetectorConfig)
    multivariate: MultivariateConfig = field(default_factory=MultivariateConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    checks: CheckConfig = field(default_factory=CheckConfig)
    resets: ResetConfig = field(default_factory=ResetConfig)

    def __post_init__(self) -> None:
        if not 0 < self.resets.readings <= self.baseline.trailing_window:
            raise ValueError("resets.readings must be in 1..baseline.trailing_window (the scoring look-back covers it)")

    @property
    def lookback_readings(self) -> int:
        """Readings per sensor that `score_readings` needs as history before the first new reading."""
        d, m = self.detectors, self.multivariate
        # windows compose: the smoothed z of a reading averages z's that each used an on-line baseline
        univariate = max(d.smooth_window + self.baseline.trailing_window + 2, d.stuck_window + 1)
        multivariate = m.smooth_window + m.diff_lag + m.ffill_limit + 1
        return max(univariate, multivariate)

    def threshold_for(self, sensor_type: str | None) -> float:
        return self.scoring.threshold_by_sensor_type.get(sensor_type or "", self.scoring.threshold)

    def fingerprint(self) -> str:
        """Short hash of every setting: stored with fitted models and in their versions."""
        return fingerprint(self)
