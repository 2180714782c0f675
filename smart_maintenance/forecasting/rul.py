"""Learned method: remaining useful life from run-to-failure histories of one equipment type.

Training rows are the steps of each history (features.py), the target the hours left until its
failure, capped at `cap_hours` (far from failure a unit's remaining life cannot be told from its
readings: "at least the cap"). Three gradient-boosting models: squared error for the point, quantile
loss for the interval bounds. Histories are split into folds (never one history on both sides): the
out-of-fold predictions give the backtest error and calibrate the interval (conformalised quantile
regression: the bounds are widened by the `interval_level` quantile of how far the truth fell outside
them). The final models are refitted on all histories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from smart_maintenance.forecasting.config import RulConfig
from smart_maintenance.forecasting.features import run_features, wide_runs

if TYPE_CHECKING:  # sklearn takes ~0.2 s to import: only where a model is fitted, not when Dagster loads the assets
    from sklearn.ensemble import HistGradientBoostingRegressor

OOF_COLUMNS = ["history_id", "timestamp", "rul_true", "rul_pred", "rul_lower", "rul_upper"]


@dataclass
class LearnedRul:
    """A fitted remaining-useful-life model of one equipment type (plain data: picklable)."""

    equipment_type: str
    sensors: list[str]  # sensor ids used (constant ones dropped)
    feature_names: list[str]
    point: HistGradientBoostingRegressor
    lower: HistGradientBoostingRegressor
    upper: HistGradientBoostingRegressor
    conformal_hours: float  # added below the lower and above the upper bound
    cap_hours: float
    step: pd.Timedelta
    n_histories: int
    n_rows: int
    backtest_rmse_hours: float  # out-of-fold, over every step of every history, target capped
    backtest_coverage: float  # share of out-of-fold truths inside the calibrated interval
    oof: pd.DataFrame  # out-of-fold predictions (OOF_COLUMNS): the selection backtest reuses them


def training_set(rows: pd.DataFrame, sensors: list[str], config: RulConfig, cap_hours: float, seed: int):
    """(X, y, groups, timestamps) from history grid rows (history_id, failure_at, sensor_id, timestamp, value)."""
    step = pd.Timedelta(config.step)
    failure = rows.groupby("history_id")["failure_at"].first()
    rng = np.random.default_rng(seed)
    frames = []
    for history_id, wide in wide_runs(rows, "history_id", step).items():
        feats = run_features(wide, sensors, config)
        left = (failure[history_id] - feats.index).total_seconds().to_numpy() / 3600.0
        keep = np.arange(len(feats))
        if len(keep) > config.max_samples_per_history:  # keep the end (near failure) dense
            far = keep[left > cap_hours]
            near = keep[left <= cap_hours]
            n_far = max(0, config.max_samples_per_history - len(near))
            keep = np.sort(np.concatenate([near, rng.choice(far, min(n_far, len(far)), replace=False)]))
        frames.append(feats.iloc[keep].assign(_y=np.minimum(left[keep], cap_hours), _g=history_id, _t=feats.index[keep]))
    data = pd.concat(frames, ignore_index=True)
    names = [c for c in data.columns if not c.startswith("_")]
    return data[names], data["_y"].to_numpy(), data["_g"].to_numpy(), data["_t"].to_numpy(), names


def _models(config: RulConfig, seed: int, level: float) -> tuple:
    from sklearn.ensemble import HistGradientBoostingRegressor

    common = dict(max_iter=config.max_iter, learning_rate=config.learning_rate, max_leaf_nodes=config.max_leaf_nodes,
                  min_samples_leaf=config.min_samples_leaf, l2_regularization=config.l2_regularization, max_bins=config.max_bins,
                  early_stopping=False, random_state=seed)  # fmt: skip
    alpha = (1.0 - level) / 2.0
    return (
        HistGradientBoostingRegressor(loss="squared_error", **common),
        HistGradientBoostingRegressor(loss="quantile", quantile=alpha, **common),
        HistGradientBoostingRegressor(loss="quantile", quantile=1.0 - alpha, **common),
    )


def fit_learned_rul(rows: pd.DataFrame, equipment_type: str, config: RulConfig, cap_hours: float, seed: int = 0) -> LearnedRul:
    """Fit one type's model on its history rows (history_id, failure_at, sensor_id, timestamp, value)."""
    # OpenMP threads busy-wait: on a shared machine more threads than free cores make fits many times slower.
    with threadpool_limits(limits=config.threads, user_api="openmp"):
        return _fit(rows, equipment_type, config, cap_hours, seed)


def _fit(rows: pd.DataFrame, equipment_type: str, config: RulConfig, cap_hours: float, seed: int) -> LearnedRul:
    from sklearn.model_selection import GroupKFold

    spread = rows.groupby("sensor_id")["value"].std()
    sensors = sorted(str(s) for s in spread[spread > config.constant_tolerance].index)
    X, y, groups, times, names = training_set(rows, sensors, config, cap_hours, seed)
    n_hist = len(np.unique(groups))
    oof = np.full((len(y), 3), np.nan)
    for k, (train, test) in enumerate(GroupKFold(n_splits=min(config.cv_folds, n_hist)).split(X, y, groups)):
        for j, model in enumerate(_models(config, seed + k, config.interval_level)):
            oof[test, j] = model.fit(X.iloc[train], y[train]).predict(X.iloc[test])
    oof = np.clip(oof, 0.0, cap_hours)
    lo, hi = np.minimum(oof[:, 1], oof[:, 0]), np.maximum(oof[:, 2], oof[:, 0])
    scores = np.maximum(lo - y, y - hi)
    q = min(1.0, config.interval_level * (1 + 1 / len(y)))
    conformal = float(np.quantile(scores, q))
    lo_c, hi_c = np.clip(lo - conformal, 0, cap_hours), np.clip(hi + conformal, 0, cap_hours)
    point, lower, upper = (m.fit(X, y) for m in _models(config, seed, config.interval_level))
    return LearnedRul(
        equipment_type=equipment_type, sensors=sensors, feature_names=names, point=point, lower=lower, upper=upper,
        conformal_hours=conformal, cap_hours=cap_hours, step=pd.Timedelta(config.step), n_histories=n_hist,
        n_rows=len(y), backtest_rmse_hours=float(np.sqrt(np.mean((oof[:, 0] - y) ** 2))),
        backtest_coverage=float(np.mean((y >= lo_c) & (y <= hi_c))),
        oof=pd.DataFrame({"history_id": groups, "timestamp": times, "rul_true": y, "rul_pred": oof[:, 0],
                          "rul_lower": lo_c, "rul_upper": hi_c})[OOF_COLUMNS],
    )  # fmt: skip


def predict_learned(model: LearnedRul, grid: pd.DataFrame, as_of, config: RulConfig) -> pd.DataFrame:
    """Per equipment in `grid` (its current run on the model's step grid): RUL quantiles in hours from as_of.

    Returns equipment_id, rul_hours, rul_lower_hours, rul_upper_hours (raw, before the cap rules of
    summary.summarise_quantiles), last_step (the grid step the features end at).
    """
    columns = ["equipment_id", "rul_hours", "rul_lower_hours", "rul_upper_hours", "last_step"]
    if not len(grid):
        return pd.DataFrame(columns=columns)
    last_rows, ids, last = [], [], []
    for equipment_id, wide in wide_runs(grid, "equipment_id", model.step).items():
        last_rows.append(run_features(wide, model.sensors, config).iloc[[-1]])
        ids.append(equipment_id)
        last.append(wide.index[-1])
    X = pd.concat(last_rows, ignore_index=True)[model.feature_names]
    point = np.clip(model.point.predict(X), 0, model.cap_hours)
    lo = np.clip(np.minimum(model.lower.predict(X), point) - model.conformal_hours, 0, model.cap_hours)
    hi = np.clip(np.maximum(model.upper.predict(X), point) + model.conformal_hours, 0, model.cap_hours)
    elapsed = (pd.Timestamp(as_of) - pd.DatetimeIndex(last)).total_seconds().to_numpy() / 3600.0  # since the step began
    shift = np.where(point < model.cap_hours, elapsed, 0.0)  # at the cap the model says "at least": no shift
    floor = model.step.total_seconds() / 3600.0 / 60.0
    out = pd.DataFrame({"equipment_id": ids, "rul_hours": np.maximum(point - shift, floor),
                        "rul_lower_hours": np.maximum(lo - shift, floor), "rul_upper_hours": np.maximum(hi - shift, floor),
                        "last_step": last})  # fmt: skip
    return out[columns]
