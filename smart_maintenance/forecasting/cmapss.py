"""NASA C-MAPSS loader and cross-validated evaluation through the production learned-RUL path.

One engine = one equipment (type 'turbofan'), one cycle = one hour, the last cycle of each engine is
its failure event. Folds split engines: `fit_rul_models` learns from the training engines' full
histories; each test engine is cut at a random cycle and `forecast_failures` forecasts it. To give all
test engines one `as_of`, each test engine's timeline is shifted so its cut falls on `as_of` (times
are arbitrary in C-MAPSS). Truth and predictions are capped at 125 cycles; a "beyond horizon"
forecast counts as the cap, a missing upper bound as the cap.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.config import ForecastConfig
from smart_maintenance.forecasting.forecast import forecast_failures
from smart_maintenance.forecasting.metrics import coverage, mean_interval_width, nasa_score, rmse
from smart_maintenance.forecasting.models import fit_rul_models

COLUMNS = ["unit", "cycle", "setting_1", "setting_2", "setting_3"] + [f"s{i}" for i in range(1, 22)]
START = pd.Timestamp("2020-01-01", tz="UTC")
AS_OF = pd.Timestamp("2021-01-01", tz="UTC")
CAP = 125.0


def load_cmapss(path: Path) -> pd.DataFrame:
    """The raw table: one row per engine cycle, COLUMNS."""
    return pd.read_csv(path, sep=r"\s+", header=None, names=COLUMNS, engine="python")


def to_frames(raw: pd.DataFrame, cut_at: dict[int, int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(readings, failure events, equipment, sensors) for the engines in `raw`.

    Without `cut_at`, full histories: engine e's cycle c at START + c hours, a failure at its last cycle.
    With `cut_at` {unit: cycle}, the engine is cut there (no failure event) and shifted so the cut is AS_OF.
    """
    raw = raw.copy()
    if cut_at is not None:
        raw = raw[raw["cycle"] <= raw["unit"].map(cut_at)]
        offset = AS_OF - pd.to_timedelta(raw["unit"].map(cut_at), unit="h")
    else:
        offset = pd.Series(START, index=raw.index)
    raw["timestamp"] = (offset + pd.to_timedelta(raw["cycle"], unit="h")).astype("datetime64[us, UTC]")
    raw["equipment_id"] = "engine-" + raw["unit"].astype(str)
    value_columns = COLUMNS[2:]
    readings = raw.melt(id_vars=["timestamp", "equipment_id"], value_vars=value_columns, var_name="sensor_id", value_name="value")
    readings["sensor_type"] = np.where(readings["sensor_id"].str.startswith("setting"), "setting", "engine")
    ids = sorted(raw["equipment_id"].unique())
    last = raw.groupby("equipment_id")["timestamp"].max()
    events = pd.DataFrame({"equipment_id": ids, "timestamp": [last[i] for i in ids], "event_type": "failure"})
    events = events.iloc[:0] if cut_at is not None else events
    equipment = pd.DataFrame({"equipment_id": ids, "type": "turbofan", "criticality": "high"})
    sensors = pd.DataFrame([(e, s, "engine", "", np.nan, np.nan, np.nan) for e in ids for s in value_columns],
                           columns=["equipment_id", "sensor_id", "sensor_type", "unit", "valid_min", "valid_max", "alarm_limit"])  # fmt: skip
    return readings, events, equipment, sensors


def cmapss_config() -> ForecastConfig:
    """The production defaults, with the C-MAPSS conventions: one-cycle steps, RUL capped at 125."""
    base = ForecastConfig()
    return replace(base, rul=replace(base.rul, rul_cap_hours=CAP), recent=pd.Timedelta(hours=1).to_pytimedelta())


def evaluate_cmapss(path: Path, folds: int = 5, seed: int = 0, min_cycles: int = 31, config: ForecastConfig | None = None) -> dict:
    """Cross-validation by engine. Returns {"rmse", "nasa_score", "coverage", "interval_level",
    "mean_interval_width", "n_predictions", "folds", "backtest_rmse" (per fold, training out-of-fold),
    "constant_rmse" (predicting the training mean), "predictions" (DataFrame)}."""
    config = config or cmapss_config()
    raw = load_cmapss(path)
    rng = np.random.default_rng(seed)
    units = rng.permutation(raw["unit"].unique())
    parts, backtests = [], []
    for k in range(folds):
        test_units = set(units[k::folds].tolist())
        train = raw[~raw["unit"].isin(test_units)]
        test = raw[raw["unit"].isin(test_units)]
        readings, events, equipment, sensors = to_frames(train)
        models = fit_rul_models(readings, events, equipment, config, as_of=AS_OF, seed=seed + k, sensors=sensors)
        backtests.append(models.learned["turbofan"].backtest_rmse_hours)
        n_cycles = test.groupby("unit")["cycle"].max()
        cut_at = {int(u): int(rng.integers(min(min_cycles, n), n + 1)) for u, n in n_cycles.items()}
        t_readings, _, t_equipment, t_sensors = to_frames(test, cut_at)
        forecasts = forecast_failures(t_readings, t_sensors, t_equipment, models, AS_OF, config, seed=seed)
        truth = {f"engine-{u}": min(float(n_cycles[u] - c), CAP) for u, c in cut_at.items()}
        mean_train = float(np.mean(np.minimum(train.groupby("unit")["cycle"].transform("max") - train["cycle"], CAP)))
        parts.append(forecasts.assign(fold=k, rul_true=forecasts["equipment_id"].map(truth), constant=mean_train))
    pred = pd.concat(parts, ignore_index=True)
    point = np.minimum(pred["rul_hours"].fillna(CAP), CAP)
    upper = pred["rul_upper_hours"].fillna(CAP)
    return {
        "rmse": rmse(point, pred["rul_true"]),
        "nasa_score": nasa_score(point, pred["rul_true"]),
        "coverage": coverage(pred["rul_lower_hours"], upper, pred["rul_true"]),
        "interval_level": float(config.rul.interval_level),
        "mean_interval_width": mean_interval_width(pred["rul_lower_hours"], upper),
        "n_predictions": int(len(pred)),
        "folds": folds,
        "methods": pred["method"].value_counts().to_dict(),
        "backtest_rmse": backtests,
        "constant_rmse": rmse(pred["constant"], pred["rul_true"]),
        "predictions": pred.assign(rul_pred=point),
    }


if __name__ == "__main__":  # python -m smart_maintenance.forecasting.cmapss PATH [folds] [seed]
    import sys
    import time

    started = time.perf_counter()
    result = evaluate_cmapss(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:4]))
    shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items() if k != "predictions"}
    print({**shown, "seconds": round(time.perf_counter() - started, 1)})
