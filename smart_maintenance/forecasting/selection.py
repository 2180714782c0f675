"""Which method forecasts an equipment type: the one with the lower backtest error on its failures.

Both methods are scored on the same cut-offs of the type's run-to-failure histories (backtest.py): the
learned model by its out-of-fold predictions (it never saw the history it predicts), the trend method by
forecasting from the history's readings up to the cut-off, calibrated as in production. Error: RMSE in
hours of the remaining life, truth and prediction capped at the learned model's cap (a "beyond
horizon" trend forecast counts as the cap). Types without a learned model use the trend method when a
sensor has a limit, else none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.calibration import TrendCalibration
from smart_maintenance.forecasting.config import ForecastConfig
from smart_maintenance.forecasting.metrics import rmse
from smart_maintenance.forecasting.rul import LearnedRul

METHODS = ("trend_prophet", "learned_rul", "none")
SELECTION_COLUMNS = ["equipment_type", "method", "learned_rmse_hours", "trend_rmse_hours", "n_backtest_points", "reason"]


def scored_backtest(model: LearnedRul, backtest: pd.DataFrame, calibration: TrendCalibration | None) -> pd.DataFrame:
    """The type's trend backtest (backtest.BACKTEST_COLUMNS) with both methods' capped predictions added.

    rul_pred: the learned model's out-of-fold prediction at the cut-off; trend_pred: the trend method as it
    would have forecast, calibrated (leave-one-history-out, so it never learned from the failure it
    predicts) where `calibration` covers the point, else raw; beyond the horizon it counts as the cap.
    """
    cap = model.cap_hours
    oof = model.oof[["history_id", "timestamp", "rul_pred"]].assign(timestamp=lambda f: _ns(f["timestamp"]))
    points = backtest.assign(timestamp=_ns(backtest["timestamp"]))
    points = pd.merge_asof(points.sort_values("timestamp"), oof.sort_values("timestamp"), on="timestamp", by="history_id",
                           direction="backward").dropna(subset=["rul_pred"])  # fmt: skip
    trend = points["trend_median"]
    if calibration is not None and len(calibration.backtest):
        loho = calibration.backtest[["history_id", "timestamp", "calibrated_median"]].assign(timestamp=lambda f: _ns(f["timestamp"]))
        calibrated = points[["history_id", "timestamp"]].merge(loho, on=["history_id", "timestamp"], how="left")["calibrated_median"]
        trend = pd.Series(np.where(calibrated.notna(), calibrated, trend), index=points.index)
    return points.assign(rul_true=np.minimum(points["rul_true"], cap),
                         trend_pred=np.minimum(trend.fillna(cap).to_numpy(float), cap)).reset_index(drop=True)  # fmt: skip


def _ns(times) -> pd.Series:
    """One timestamp unit to join on (the out-of-fold rows and the cut-offs come from different frames)."""
    return pd.to_datetime(times, utc=True).astype("datetime64[ns, UTC]")


def select_method(equipment_type: str, model: LearnedRul | None, backtest: pd.DataFrame | None, has_limits: bool,
                  config: ForecastConfig) -> dict:  # fmt: skip
    """One SELECTION_COLUMNS row for a type."""
    row = {"equipment_type": equipment_type, "learned_rmse_hours": np.nan, "trend_rmse_hours": np.nan, "n_backtest_points": 0}
    if model is None:
        method = "trend_prophet" if has_limits else "none"
        reason = "no learned model (too few failures)" + ("" if has_limits else "; no sensor with a limit")
        return {**row, "method": method, "reason": reason}
    if backtest is None or not len(backtest) or not has_limits:
        return {**row, "method": "learned_rul", "learned_rmse_hours": model.backtest_rmse_hours,
                "reason": "learned model; no trend backtest (no sensor with a limit)"}  # fmt: skip
    learned, trend = rmse(backtest["rul_pred"], backtest["rul_true"]), rmse(backtest["trend_pred"], backtest["rul_true"])
    method = "learned_rul" if learned <= config.selection.learned_margin * trend else "trend_prophet"
    return {**row, "method": method, "learned_rmse_hours": learned, "trend_rmse_hours": trend,
            "n_backtest_points": len(backtest), "reason": f"lower backtest RMSE ({learned:.1f} h learned vs {trend:.1f} h trend)"}  # fmt: skip
