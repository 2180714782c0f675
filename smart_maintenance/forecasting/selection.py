"""Which method forecasts an equipment type: the one with the lower backtest error on its failures.

Both methods are scored on the same cut-offs of the type's run-to-failure histories: the learned
model by its out-of-fold predictions (it never saw the history it predicts), the trend method by
forecasting from the history's readings up to the cut-off. Error: RMSE in hours of the remaining life,
truth and prediction capped at the learned model's cap (a "beyond horizon" trend forecast counts as
the cap). Types without a learned model use the trend method when a sensor has a limit, else none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.config import ForecastConfig
from smart_maintenance.forecasting.limits import sensor_limits
from smart_maintenance.forecasting.metrics import rmse
from smart_maintenance.forecasting.rul import LearnedRul
from smart_maintenance.forecasting.trend import trend_forecasts

METHODS = ("trend_prophet", "learned_rul", "none")
SELECTION_COLUMNS = ["equipment_type", "method", "learned_rmse_hours", "trend_rmse_hours", "n_backtest_points", "reason"]


def cutoffs(model: LearnedRul, points: int) -> pd.DataFrame:
    """`points` out-of-fold rows per history, evenly spread over the part where the truth is below the cap."""
    rows = []
    for _, part in model.oof.sort_values("timestamp").groupby("history_id", sort=True):
        near = part[part["rul_true"] < model.cap_hours]
        if len(near) >= 2:
            rows.append(near.iloc[np.unique(np.linspace(0, len(near) - 1, points).round().astype(int))])
    return pd.concat(rows, ignore_index=True) if rows else model.oof.iloc[:0]


def trend_backtest(model: LearnedRul, hourly_rows: pd.DataFrame, sensors: pd.DataFrame, equipment: pd.DataFrame,
                   config: ForecastConfig, seed: int = 0, offsets: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """The cut-offs of `cutoffs` with the trend method's capped RUL forecast (`trend_pred`) added.

    hourly_rows: history rows (history_id, equipment_id, sensor_id, timestamp, value) on the trend grid.
    Each cut-off is forecast as a pseudo-equipment carrying the sensors (and limits) of its equipment;
    offsets (learned limits, limits.learn_limit_offsets) stand in for missing alarm limits.
    """
    points = cutoffs(model, config.selection.trend_backtest_points)
    if not len(points):
        return points.assign(trend_pred=pd.Series(dtype=float))
    owner = hourly_rows.drop_duplicates("history_id").set_index("history_id")["equipment_id"]
    grids, refs, as_of = [], [], {}
    for i, p in enumerate(points.itertuples(index=False)):
        pseudo = f"bt{i}"
        part = hourly_rows[(hourly_rows["history_id"] == p.history_id) & (hourly_rows["timestamp"] <= p.timestamp)]
        grids.append(part.assign(equipment_id=pseudo))
        refs.append(sensors[sensors["equipment_id"].astype(str) == owner[p.history_id]].assign(equipment_id=pseudo))
        as_of[pseudo] = pd.Timestamp(p.timestamp)
    grid = pd.concat(grids, ignore_index=True)
    pseudo_equipment = pd.DataFrame({"equipment_id": list(as_of), "type": model.equipment_type})
    limits = sensor_limits(grid, pd.concat(refs, ignore_index=True), pseudo_equipment, config.baseline, offsets)
    forecasts = trend_forecasts(grid, limits, as_of, config.trend, config.baseline, seed).set_index("equipment_id")
    pred = [forecasts["rul_hours"].get(f"bt{i}", np.nan) for i in range(len(points))]
    return points.assign(trend_pred=np.minimum(np.nan_to_num(np.asarray(pred, float), nan=model.cap_hours), model.cap_hours))


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
