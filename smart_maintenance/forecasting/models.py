"""Fitted forecasting artifacts: learned RUL models per equipment type, learned limits, method choice,
and the calibration of the trend method, all from the run-to-failure histories known at `as_of`.

`fit_rul_models` is called when failures arrive (the caller decides: an asset that depends on the
failure events, not on every micro-batch). `RulModels` is plain data (pandas, numpy, scikit-learn):
pickle it as a versioned asset; `metadata()` is what the materialisation should show.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.backtest import BACKTEST_COLUMNS, cutoffs, trend_backtest
from smart_maintenance.forecasting.calibration import ALL_TYPES, TrendCalibration, fit_calibrations
from smart_maintenance.forecasting.config import ForecastConfig
from smart_maintenance.forecasting.history import aggregate, failure_histories, history_rows, utc
from smart_maintenance.forecasting.limits import OFFSET_COLUMNS, learn_limit_offsets
from smart_maintenance.forecasting.rul import LearnedRul, fit_learned_rul
from smart_maintenance.forecasting.selection import SELECTION_COLUMNS, scored_backtest, select_method


@dataclass
class RulModels:
    as_of: pd.Timestamp
    config_fingerprint: str
    seed: int
    learned: dict[str, LearnedRul] = field(default_factory=dict)  # by equipment type
    limit_offsets: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=OFFSET_COLUMNS))
    selection: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SELECTION_COLUMNS))
    trend_backtest: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BACKTEST_COLUMNS))  # raw replays
    trend_calibrations: dict[str, TrendCalibration] = field(default_factory=dict)  # by type, and ALL_TYPES
    histories: pd.DataFrame = field(default_factory=pd.DataFrame)  # history_id, equipment_id, equipment_type, start, failure_at
    train_start: pd.Timestamp | None = None  # first reading of any history
    train_end: pd.Timestamp | None = None  # last failure used

    @property
    def version(self) -> str:
        """Stable id of this fit: same config, cut-off, failures and seed give the same version."""
        failures = ",".join(sorted(self.histories.get("history_id", pd.Series(dtype=str)).astype(str)))
        text = f"{self.config_fingerprint}|{self.as_of}|{self.seed}|{failures}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def method_for(self, equipment_type: str | None) -> str | None:
        """The selected method of a type (None: the type had no failures; the caller decides)."""
        hit = self.selection[self.selection["equipment_type"] == equipment_type]
        return None if hit.empty else str(hit["method"].iloc[0])

    def trend_calibration(self, equipment_type: str | None) -> TrendCalibration | None:
        """How the trend forecasts of a type are calibrated: on its own failures when it has enough, else
        on those of all types; None (Prophet's raw interval) when no failure history allows either."""
        return self.trend_calibrations.get(str(equipment_type)) or self.trend_calibrations.get(ALL_TYPES)

    def metadata(self) -> dict:
        return {
            "version": self.version,
            "as_of": str(self.as_of),
            "train_start": str(self.train_start),
            "train_end": str(self.train_end),
            "n_histories": len(self.histories),
            "learned_types": sorted(self.learned),
            "backtest_rmse_hours": {t: round(m.backtest_rmse_hours, 2) for t, m in self.learned.items()},
            "backtest_coverage": {t: round(m.backtest_coverage, 3) for t, m in self.learned.items()},
            "methods": dict(zip(self.selection["equipment_type"], self.selection["method"], strict=True)),
            "learned_limits": len(self.limit_offsets),
            "trend_calibration": {scope: c.metadata() for scope, c in self.trend_calibrations.items()},
            "config_fingerprint": self.config_fingerprint,
        }


def fit_rul_models(
    readings: pd.DataFrame,
    events: pd.DataFrame | None,
    equipment: pd.DataFrame,
    config: ForecastConfig | None = None,
    as_of=None,
    seed: int = 0,
    sensors: pd.DataFrame | None = None,
) -> RulModels:
    """Learn from every failure at or before `as_of`: one history per failure event.

    readings: contract readings (raw or already aggregated); events: maintenance events (equipment_id,
    timestamp, event_type); equipment: equipment_id, type. A type with >= `rul.min_failures` usable
    histories gets a learned model. sensors (reference, optional): enables the trend backtest that
    chooses the method per type and calibrates the trend method (calibration.py); without it a type with
    a learned model uses it, and trend forecasts keep Prophet's raw interval.
    """
    config = config or ForecastConfig()
    rc = config.rul
    grid = aggregate(readings, rc.step, as_of)
    as_of = utc(as_of) if as_of is not None else (grid["timestamp"].max() if len(grid) else pd.Timestamp.now(tz="UTC"))
    types = equipment.assign(equipment_id=equipment["equipment_id"].astype(str)).set_index("equipment_id")["type"].astype(str)
    histories = failure_histories(events, grid, as_of)
    histories["equipment_type"] = histories["equipment_id"].map(types)
    rows = history_rows(grid, histories)
    steps = rows.groupby("history_id")["timestamp"].nunique()
    histories = histories[histories["history_id"].map(steps).fillna(0) >= rc.min_history_steps].reset_index(drop=True)
    rows = rows[rows["history_id"].isin(histories["history_id"])].assign(equipment_type=lambda f: f["equipment_id"].map(types))
    models = RulModels(as_of=as_of, config_fingerprint=config.fingerprint(), seed=seed, histories=histories)
    if not len(histories):
        return models
    models.train_start, models.train_end = rows["timestamp"].min(), histories["failure_at"].max()
    hours = (histories["failure_at"] - histories["start"]).dt.total_seconds() / 3600.0
    cap = rc.rul_cap_hours or float(np.median(hours)) / 2.0
    hourly = rows if pd.Timedelta(config.trend.aggregate) == pd.Timedelta(rc.step) else history_rows(
        aggregate(readings, config.trend.aggregate, as_of), histories).assign(equipment_type=lambda f: f["equipment_id"].map(types))
    models.limit_offsets = learn_limit_offsets(hourly, config.baseline)
    fitted, cuts = {}, []
    with_limits = [t for t, part in histories.groupby("equipment_type", sort=True) if _has_limits(part, sensors, models.limit_offsets, t)]
    # Cut-offs for the trend backtest: enough in all to calibrate on, at least the selection's per history.
    cc, n_limited = config.calibration, int(histories["equipment_type"].isin(with_limits).sum())
    points = min(cc.max_points_per_history, max(config.selection.trend_backtest_points, -(-cc.target_points // max(1, n_limited))))
    for equipment_type, part in histories.groupby("equipment_type", sort=True):
        if len(part) >= rc.min_failures:
            fitted[str(equipment_type)] = fit_learned_rul(rows[rows["equipment_type"] == equipment_type], str(equipment_type), rc, cap, seed)
        if equipment_type in with_limits:
            cuts.append(cutoffs(hourly[hourly["equipment_type"] == equipment_type], cap, points, config.trend.aggregate, seed))
    models.learned = fitted
    if cuts:  # one batch for all types: the Prophet fits run in parallel
        limited = histories[histories["equipment_type"].isin(with_limits)]
        own = sensors[sensors["equipment_id"].astype(str).isin(limited["equipment_id"])]
        models.trend_backtest = trend_backtest(hourly, pd.concat(cuts, ignore_index=True), own, equipment, config, seed, models.limit_offsets)
        models.trend_calibrations = fit_calibrations(models.trend_backtest, config.trend.interval_level, cc,
                                                     pd.Timedelta(config.trend.step).total_seconds() / 3600.0)  # fmt: skip
    selection = []
    for equipment_type, model in fitted.items():
        backtest = models.trend_backtest[models.trend_backtest["equipment_type"] == equipment_type]
        has_limits = bool(len(backtest))
        scored = scored_backtest(model, backtest, models.trend_calibration(equipment_type)) if has_limits else None
        selection.append(select_method(equipment_type, model, scored, has_limits, config))
    models.selection = pd.DataFrame(selection, columns=SELECTION_COLUMNS)
    return models


def _has_limits(part: pd.DataFrame, sensors: pd.DataFrame | None, offsets: pd.DataFrame, equipment_type) -> bool:
    """Whether the trend method can forecast this type: a sensor with an alarm limit, or a learned one."""
    if sensors is None or not len(sensors):
        return False  # without the reference no backtest is run (the caller did not ask for one)
    own = sensors[sensors["equipment_id"].astype(str).isin(part["equipment_id"])]
    return bool(pd.to_numeric(own.get("alarm_limit"), errors="coerce").notna().any()) or bool(
        (offsets["equipment_type"] == equipment_type).any())
