"""A sensor's healthy baseline, its alarm limit, and the direction in which it degrades.

Baseline: median and scaled MAD of the sensor's aggregated values early in the equipment's current run
(after its last repair), when it is as good as new. Limit: `alarm_limit` from the sensors reference; if
missing, a limit learned from failure histories of the same equipment type (the level the sensor had
reached, relative to its own baseline, when those units failed); else none (no trend forecast).
Direction: +1 when the limit lies above the baseline (the sensor rises towards it), -1 when below,
0 when unknown (no limit: distances are two-sided).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.config import BaselineConfig

BASELINE_COLUMNS = ["equipment_id", "sensor_id", "center", "scale"]
LIMIT_COLUMNS = BASELINE_COLUMNS + ["sensor_type", "alarm_limit", "limit_source", "direction"]
OFFSET_COLUMNS = ["equipment_type", "sensor_id", "offset", "n_histories"]


def baselines(grid: pd.DataFrame, config: BaselineConfig, key: str | list[str] = ["equipment_id", "sensor_id"]) -> pd.DataFrame:  # noqa: B006
    """Robust centre and scale per sensor from the first `config.window` of its grid rows.

    grid: aggregated rows (key columns, timestamp, value) of one run per sensor (e.g. `current_runs`).
    """
    key = [key] if isinstance(key, str) else list(key)
    if not len(grid):
        return pd.DataFrame(columns=key + ["center", "scale"])
    first = grid.groupby(key, sort=False)["timestamp"].transform("min")
    early = grid[grid["timestamp"] < first + config.window]
    g = early.groupby(key, sort=True)["value"]
    center = g.median()
    mad = (early["value"] - early.groupby(key, sort=False)["value"].transform("median")).abs()
    scale = 1.4826 * mad.groupby([early[k] for k in key], sort=True).median()
    floor = np.maximum(config.scale_floor_rel * center.abs(), 1e-9)
    out = pd.DataFrame({"center": center, "scale": np.maximum(scale, floor), "n": g.size()}).reset_index()
    return out[out["n"] >= config.min_points].drop(columns="n").reset_index(drop=True)


def sensor_limits(
    grid: pd.DataFrame,
    sensors: pd.DataFrame | None,
    equipment: pd.DataFrame | None,
    config: BaselineConfig,
    learned_offsets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per sensor with a baseline: LIMIT_COLUMNS (limit_source: 'reference', 'learned' or 'none')."""
    base = baselines(grid, config)
    ref = _sensor_reference(sensors)
    out = base.merge(ref, on=["equipment_id", "sensor_id"], how="left")
    out["limit_source"] = np.where(out["alarm_limit"].notna(), "reference", "none")
    if learned_offsets is not None and len(learned_offsets) and equipment is not None and len(equipment):
        types = equipment.assign(equipment_id=equipment["equipment_id"].astype(str)).set_index("equipment_id")["type"]
        learned = out.assign(equipment_type=out["equipment_id"].map(types).astype(object)).merge(
            learned_offsets[["equipment_type", "sensor_id", "offset"]], on=["equipment_type", "sensor_id"], how="left"
        )["offset"].to_numpy()
        use = out["alarm_limit"].isna().to_numpy() & np.isfinite(learned.astype(float))
        out.loc[use, "alarm_limit"] = out.loc[use, "center"] + learned[use].astype(float)
        out.loc[use, "limit_source"] = "learned"
    # A limit within one scale of the healthy level gives no usable direction.
    gap = out["alarm_limit"] - out["center"]
    out["direction"] = np.where(gap > out["scale"], 1, np.where(gap < -out["scale"], -1, 0)).astype(int)
    out.loc[out["direction"] == 0, ["alarm_limit"]] = np.nan
    out.loc[out["direction"] == 0, "limit_source"] = "none"
    return out[LIMIT_COLUMNS].reset_index(drop=True)


def directional_z(values, center, scale, direction) -> np.ndarray:
    """Distance from the baseline in scales, positive towards the limit (two-sided when direction 0)."""
    z = (np.asarray(values, float) - np.asarray(center, float)) / np.asarray(scale, float)
    d = np.asarray(direction)
    return np.where(d == 0, np.abs(z), d * z)


def learn_limit_offsets(rows: pd.DataFrame, config: BaselineConfig, end_bins: int = 3, min_z: float = 3.0) -> pd.DataFrame:
    """Per (equipment type, sensor): the median level reached at failure, relative to the run's baseline.

    rows: grid rows of run-to-failure histories with history_id and equipment_type. Kept only when the
    histories agree on the side (>= 75 % the same sign) and the level is >= `min_z` scales away.
    """
    if not len(rows):
        return pd.DataFrame(columns=OFFSET_COLUMNS)
    key = ["equipment_type", "history_id", "sensor_id"]
    base = baselines(rows, config, key=key)
    end = rows.sort_values("timestamp").groupby(key, sort=True).tail(end_bins).groupby(key)["value"].median()
    per = base.set_index(key).join(end.rename("end"), how="inner")
    per["offset"], per["z"] = per["end"] - per["center"], (per["end"] - per["center"]) / per["scale"]
    out = []
    for (equipment_type, sensor_id), g in per.groupby(level=["equipment_type", "sensor_id"]):
        sign = np.sign(g["offset"].median())
        if sign != 0 and (np.sign(g["offset"]) == sign).mean() >= 0.75 and abs(g["z"].median()) >= min_z:
            out.append((equipment_type, sensor_id, float(g["offset"].median()), len(g)))
    return pd.DataFrame(out, columns=OFFSET_COLUMNS)


def _sensor_reference(sensors: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["equipment_id", "sensor_id", "sensor_type", "alarm_limit"]
    if sensors is None or not len(sensors):
        return pd.DataFrame(columns=cols).astype({"alarm_limit": float})
    ref = pd.DataFrame({
        "equipment_id": sensors["equipment_id"].astype(str), "sensor_id": sensors["sensor_id"].astype(str),
        "sensor_type": sensors["sensor_type"].astype(object) if "sensor_type" in sensors else None,
        "alarm_limit": pd.to_numeric(sensors["alarm_limit"], errors="coerce") if "alarm_limit" in sensors else np.nan,
    })  # fmt: skip
    return ref.drop_duplicates(["equipment_id", "sensor_id"], keep="last")
