"""One entry point: failure_forecasts rows for every equipment with recent readings.

Per equipment, the method chosen for its type (models.selection): `learned_rul` where a learned model
won the backtest, `trend_prophet` where a sensor has an alarm limit (reference or learned), else `none`
(a row saying why, with no numbers). Trend forecasts are calibrated on past failures where the models
hold a calibration for the type (models.trend_calibration), else keep Prophet's raw interval; their
drivers say which. See summary.py for what the numbers mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.config import ForecastConfig
from smart_maintenance.forecasting.history import aggregate, current_runs, utc
from smart_maintenance.forecasting.limits import directional_z, sensor_limits
from smart_maintenance.forecasting.models import RulModels
from smart_maintenance.forecasting.rul import predict_learned
from smart_maintenance.forecasting.summary import SUMMARY_COLUMNS, summarise_quantiles
from smart_maintenance.forecasting.trend import trend_forecasts

FORECAST_COLUMNS = [
    "equipment_id", "as_of", "rul_hours", "rul_lower_hours", "rul_upper_hours", "predicted_failure_at", "method",
    "p_fail_7d", "p_fail_30d", "interval_level", "beyond_horizon", "drivers", "model_version",
]  # fmt: skip


def forecast_failures(
    readings: pd.DataFrame,
    sensors: pd.DataFrame | None,
    equipment: pd.DataFrame | None,
    models: RulModels | None,
    as_of,
    config: ForecastConfig | None = None,
    events: pd.DataFrame | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """FAILURE_FORECASTS rows (FORECAST_COLUMNS), one per equipment with a reading in (as_of - recent, as_of].

    readings: the current run of each equipment (since its last repair), raw or hourly-aggregated;
    events (optional): maintenance events, so that readings before the last repair are ignored.
    models: from `fit_rul_models` (None: trend method only). as_of: the forecast time (UTC).
    Guarantees: rul_lower_hours <= rul_hours <= rul_upper_hours and predicted_failure_at > as_of on
    every row that is not beyond the horizon; beyond-horizon rows carry no rul_hours and no date.
    """
    config = config or ForecastConfig()
    as_of = utc(as_of)
    aggregated = aggregate(readings, config.trend.aggregate, as_of)
    reporting = recent_equipment(aggregated, as_of, config)
    grid = current_runs(aggregated, events, as_of)
    recent = sorted(recent_equipment(grid, as_of, config))
    # Equipment that reports but whose current run (since its last repair) has no full bin yet: a row
    # saying so, never a silent gap.
    restarted = sorted(set(reporting) - set(recent))
    grid = grid[grid["equipment_id"].isin(recent)]
    types = _types(equipment)
    limits = sensor_limits(grid, sensors, equipment, config.baseline, models.limit_offsets if models else None)
    with_limits = set(limits.loc[limits["direction"] != 0, "equipment_id"])
    chosen_for = {t: models.method_for(t) if models else None for t in {types.get(e) for e in recent}}
    method = {}
    for equipment_id in recent:
        chosen = chosen_for[types.get(equipment_id)]
        if chosen == "learned_rul":
            method[equipment_id] = chosen
        else:
            method[equipment_id] = "trend_prophet" if equipment_id in with_limits else "none"
    rows = {}
    trend_ids = [e for e in recent if method[e] == "trend_prophet"]
    if trend_ids:
        calibration = {e: models.trend_calibration(types.get(e)) if models else None for e in trend_ids}
        trend = trend_forecasts(grid[grid["equipment_id"].isin(trend_ids)], limits, as_of, config.trend, config.baseline, seed,
                                calibration)  # fmt: skip
        for r in trend.to_dict("records"):
            rows[r["equipment_id"]] = {**r, "method": "trend_prophet", "interval_level": config.trend.interval_level}
    for equipment_type in sorted({types.get(e) for e in recent if method[e] == "learned_rul"}):
        model = models.learned[equipment_type]
        ids = [e for e in recent if method[e] == "learned_rul" and types.get(e) == equipment_type]
        step_grid = current_runs(aggregate(readings[readings["equipment_id"].astype(str).isin(ids)], model.step, as_of), events, as_of)
        hint = f"learned model of {equipment_type} ({model.n_histories} failures)"
        for p in predict_learned(model, step_grid, as_of, config.rul).to_dict("records"):
            summary = summarise_quantiles(p["rul_lower_hours"], p["rul_hours"], p["rul_upper_hours"], config.rul.interval_level, model.cap_hours)
            drivers = "; ".join(x for x in (hint, _deviations(grid, limits, p["equipment_id"])) if x)
            rows[p["equipment_id"]] = {**summary, "drivers": drivers, "method": "learned_rul", "interval_level": config.rul.interval_level}
    version = models.version if models else f"trend-{config.fingerprint()}"
    out = []
    for equipment_id in recent + restarted:
        r = rows.get(equipment_id)
        if r is None:
            why = ("restarted after a repair or replacement: too little data since to forecast" if equipment_id in restarted
                   else "no sensor with an alarm limit and no learned model for its type")
            r = {c: np.nan for c in SUMMARY_COLUMNS} | {"beyond_horizon": False, "drivers": why, "method": "none", "interval_level": np.nan}
        out.append({**r, "equipment_id": equipment_id, "model_version": version})
    return _finish(pd.DataFrame(out, columns=[c for c in FORECAST_COLUMNS if c not in ("as_of", "predicted_failure_at")]), as_of)


def first_recent_bin(as_of: pd.Timestamp, config: ForecastConfig | None = None) -> pd.Timestamp:
    """The first grid bin of the `recent` window before `as_of` (bins of `trend.aggregate`, aligned): an
    equipment with a bin from it on gets a forecast row."""
    config = config or ForecastConfig()
    step = pd.Timedelta(config.trend.aggregate)
    return (as_of - config.recent - step).floor(step) + step


def recent_equipment(grid: pd.DataFrame, as_of: pd.Timestamp, config: ForecastConfig) -> list[str]:
    """Equipment with a grid bin in the `recent` window before as_of."""
    last = grid.groupby("equipment_id")["timestamp"].max()
    return list(last[last >= first_recent_bin(as_of, config)].index)


def _finish(frame: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    frame["as_of"] = pd.Series([as_of] * len(frame), dtype="datetime64[us, UTC]")
    for c in ("rul_hours", "rul_lower_hours", "rul_upper_hours", "p_fail_7d", "p_fail_30d", "interval_level"):
        frame[c] = frame[c].astype("float64")
    frame["beyond_horizon"] = frame["beyond_horizon"].astype(bool)
    frame["predicted_failure_at"] = (as_of + pd.to_timedelta(frame["rul_hours"], unit="h")).astype("datetime64[us, UTC]")
    return frame[FORECAST_COLUMNS].reset_index(drop=True)


def _types(equipment: pd.DataFrame | None) -> dict[str, str]:
    if equipment is None or not len(equipment):
        return {}
    return dict(zip(equipment["equipment_id"].astype(str), equipment["type"].astype(str), strict=True))


def _deviations(grid: pd.DataFrame, limits: pd.DataFrame, equipment_id: str, top: int = 3) -> str:
    """The sensors furthest from their healthy baseline now: 'vibration +4.2 sd; temp +3.1 sd'."""
    own = grid[grid["equipment_id"] == equipment_id]
    now = own.sort_values("timestamp").groupby("sensor_id").tail(6).groupby("sensor_id")["value"].median()
    lim = limits[limits["equipment_id"] == equipment_id].set_index("sensor_id").reindex(now.index).dropna(subset=["center"])
    if lim.empty:
        return ""
    z = pd.Series(directional_z(now[lim.index], lim["center"], lim["scale"], lim["direction"]), index=lim.index)
    return "; ".join(f"{s} {v:+.1f} sd" for s, v in z.sort_values(ascending=False).head(top).items())
