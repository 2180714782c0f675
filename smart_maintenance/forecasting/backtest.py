"""Replaying the trend method on past run-to-failure histories: what it would have said, and the truth.

The method selection (selection.py) and the trend calibration (calibration.py) both score the trend
method this way. A *cut-off* is a time inside a history; the replay forecasts from the history's
readings up to the cut-off only, as a pseudo-equipment carrying the sensors and alarm limits of its
equipment, through the same `trend_forecasts` that forecast_failures calls. Cut-offs are spread over the
part of each history where the remaining life is below `cap_hours`: further from the failure the trend
sees no wear and is beyond its horizon, which teaches nothing.

Backtest rows (BACKTEST_COLUMNS) hold the *raw* trend interval in hours: trend_median is NaN when the
replay was beyond the horizon, trend_upper is +inf when the interval had no upper bound.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.config import ForecastConfig
from smart_maintenance.forecasting.limits import sensor_limits
from smart_maintenance.forecasting.trend import trend_forecasts

CUTOFF_COLUMNS = ["history_id", "equipment_type", "timestamp", "rul_true"]
BACKTEST_COLUMNS = CUTOFF_COLUMNS + ["trend_lower", "trend_median", "trend_upper"]


def cutoffs(rows: pd.DataFrame, cap_hours: float, points: int, step, seed: int = 0) -> pd.DataFrame:
    """`points` cut-offs per history (CUTOFF_COLUMNS; rul_true in hours, not capped).

    rows: history grid rows (history_id, equipment_type, timestamp, failure_at). The cut-offs lie on
    the regular `step` grid from the history's first to its last row, where failure_at - t < cap_hours
    (the learned model has an out-of-fold prediction at each of them): one drawn at random in each of
    `points` equal stretches of that part. Drawn, not fixed: fixed positions would put every history's
    cut-offs at the same remaining lives (e.g. always the last hour) and the calibration would learn
    those few situations instead of what forecasts issued at any time meet.
    """
    rng = np.random.default_rng(seed)
    out = []
    for history_id, part in rows.groupby("history_id", sort=True):
        grid = pd.date_range(part["timestamp"].min(), part["timestamp"].max(), freq=pd.Timedelta(step))
        left = (part["failure_at"].iloc[0] - grid).total_seconds().to_numpy() / 3600.0
        near = np.flatnonzero(left < cap_hours)
        if len(near) < 2:
            continue
        edges = np.linspace(0, len(near), min(points, len(near)) + 1).astype(int)
        pick = near[np.unique([rng.integers(a, b) for a, b in pairwise(edges)])]
        out.append(pd.DataFrame({"history_id": history_id, "equipment_type": part["equipment_type"].iloc[0],
                                 "timestamp": grid[pick], "rul_true": left[pick]}))  # fmt: skip
    if not out:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(CUTOFF_COLUMNS, [object, object, "datetime64[us, UTC]", float], strict=True)})
    return pd.concat(out, ignore_index=True)[CUTOFF_COLUMNS]


def trend_backtest(rows: pd.DataFrame, cuts: pd.DataFrame, sensors: pd.DataFrame, equipment: pd.DataFrame,
                   config: ForecastConfig, seed: int = 0, offsets: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """The raw trend forecast at every cut-off: BACKTEST_COLUMNS.

    rows: history rows on the trend grid (history_id, equipment_id, sensor_id, timestamp, value);
    sensors: the reference (alarm limits of the real equipment); offsets: learned limits
    (limits.learn_limit_offsets) standing in for missing alarm limits.
    """
    empty = cuts.assign(trend_lower=pd.Series(dtype=float), trend_median=pd.Series(dtype=float), trend_upper=pd.Series(dtype=float))
    if not len(cuts):
        return empty[BACKTEST_COLUMNS]
    owner = rows.drop_duplicates("history_id").set_index("history_id")["equipment_id"]
    by_history = dict(tuple(rows.groupby("history_id", sort=False)))
    grids, refs, as_of, types = [], [], {}, {}
    for i, cut in enumerate(cuts.itertuples(index=False)):
        pseudo = f"bt{i}"
        part = by_history[cut.history_id]
        grids.append(part[part["timestamp"] <= cut.timestamp].assign(equipment_id=pseudo))
        refs.append(sensors[sensors["equipment_id"].astype(str) == owner[cut.history_id]].assign(equipment_id=pseudo))
        as_of[pseudo], types[pseudo] = pd.Timestamp(cut.timestamp), cut.equipment_type
    grid = pd.concat(grids, ignore_index=True)
    pseudo_equipment = pd.DataFrame({"equipment_id": list(types), "type": list(types.values())})
    limits = sensor_limits(grid, pd.concat(refs, ignore_index=True), pseudo_equipment, config.baseline, offsets)
    forecasts = trend_forecasts(grid, limits, as_of, config.trend, config.baseline, seed).set_index("equipment_id")
    ids = [f"bt{i}" for i in range(len(cuts))]
    found = forecasts.reindex(ids)
    beyond = found["beyond_horizon"].fillna(True).astype(bool).to_numpy()  # no sensor with a limit: no forecast
    return cuts.assign(
        trend_lower=np.where(beyond, np.nan, found["rul_lower_hours"].to_numpy(float)),
        trend_median=np.where(beyond, np.nan, found["rul_hours"].to_numpy(float)),
        trend_upper=np.where(beyond, np.nan, found["rul_upper_hours"].fillna(np.inf).to_numpy(float)),
    )[BACKTEST_COLUMNS]
