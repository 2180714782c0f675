"""Evaluation against a synthetic plant's ground truth, through `forecast_failures`.

The plant is forecast every `cadence` (all equipment at once, each time with only the readings and
events up to that time). A degradation (ground-truth fault_type 'degradation' with a failure_at) is
*warned* when some forecast issued between its start and `lead` before its failure puts the failure
within the horizon (not beyond it; predicted_failure_at > as_of holds for every such row). Interval
coverage: among those in-horizon forecasts issued during a degradation, the share whose interval holds
the true failure time. False warnings: forecasts for equipment not degrading then, with p_fail_7d >= 0.5.

Causality: each forecast time sees only the readings and maintenance events before it, and the models
it uses (the trend calibration among them) are learned from the failures known then, refitted when a
new failure arrives, as the `rul_models` asset does. The first degradations, with no failure before
them, are forecast with Prophet's raw interval; the coverage is reported for both kinds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.calibration import RAW_NOTE
from smart_maintenance.forecasting.config import ForecastConfig
from smart_maintenance.forecasting.forecast import forecast_failures
from smart_maintenance.forecasting.history import aggregate, prepare_events
from smart_maintenance.forecasting.metrics import coverage
from smart_maintenance.forecasting.models import RulModels, fit_rul_models

CADENCE = pd.Timedelta("12h")  # a forecast of the whole plant every 12 h
LEAD = pd.Timedelta("24h")  # a warning counts when it comes at least this long before the failure


def evaluate_synthetic_forecasts(
    readings: pd.DataFrame,
    events: pd.DataFrame | None,
    faults_ground_truth: pd.DataFrame,
    sensors: pd.DataFrame,
    equipment: pd.DataFrame,
    config: ForecastConfig | None = None,
    models: RulModels | None = None,
    cadence: pd.Timedelta = CADENCE,
    lead: pd.Timedelta = LEAD,
    start: pd.Timestamp | None = None,
    seed: int = 0,
    learn: bool = True,
) -> dict:
    """Returns {"degradations", "warned", "warned_share", "median_first_warning_lead_hours",
    "interval_coverage", "interval_level", "n_in_horizon_forecasts", "median_abs_error_hours",
    "calibrated_share", "interval_coverage_calibrated", "interval_coverage_raw", "false_warnings",
    "false_warning_rate", "forecast_times", "seconds_per_forecast", "model_fits", "fit_seconds",
    "per_degradation"}.

    models: the same models for every forecast time; None: learned at each forecast time from the
    failures known then (learn=True), or none at all (learn=False: Prophet's raw interval throughout).
    start: first forecast time (default: 3 days after the first reading, so baselines exist).
    """
    import time

    config = config or ForecastConfig()
    hourly = aggregate(readings, config.trend.aggregate)
    ev = prepare_events(events)
    truth = _degradations(faults_ground_truth)
    t0, t1 = hourly["timestamp"].min(), hourly["timestamp"].max() + pd.Timedelta(config.trend.aggregate)
    start = pd.Timestamp(start) if start is not None else t0 + pd.Timedelta("3D")
    times = pd.date_range(start, t1, freq=cadence)
    parts, seconds, fit_seconds, fits, known, current = [], 0.0, 0.0, 0, None, models
    for as_of in times:
        before = hourly[hourly["timestamp"] < as_of]
        events_then = ev[ev["timestamp"] <= as_of]
        failures = tuple(events_then.loc[events_then["event_type"] == "failure", "timestamp"])
        if models is None and learn and failures and failures != known:  # a new failure: learn again
            began = time.perf_counter()
            current = fit_rul_models(before, events_then, equipment, config, as_of=as_of, seed=seed, sensors=sensors)
            fit_seconds += time.perf_counter() - began
            fits, known = fits + 1, failures
        began = time.perf_counter()
        parts.append(forecast_failures(before, sensors, equipment, current, as_of, config, events=events_then, seed=seed))
        seconds += time.perf_counter() - began
    fc = pd.concat(parts, ignore_index=True)
    in_horizon = fc[~fc["beyond_horizon"] & (fc["method"] != "none")]
    per, covered_rows = [], []
    for d in truth.itertuples(index=False):
        own = in_horizon[(in_horizon["equipment_id"] == d.equipment_id) & (in_horizon["as_of"] >= d.start)
                         & (in_horizon["as_of"] < d.failure_at)]  # fmt: skip
        early = own[own["as_of"] <= d.failure_at - lead]
        first = early["as_of"].min() if len(early) else pd.NaT
        true_hours = (d.failure_at - own["as_of"]).dt.total_seconds() / 3600.0
        covered_rows.append(own.assign(true_hours=true_hours.to_numpy()))
        per.append({"equipment_id": d.equipment_id, "start": d.start, "failure_at": d.failure_at, "warned": bool(len(early)),
                    "first_warning_lead_hours": (d.failure_at - first).total_seconds() / 3600.0 if len(early) else np.nan,
                    "forecasts_in_horizon": len(own)})  # fmt: skip
    per = pd.DataFrame(per)
    scored = pd.concat(covered_rows, ignore_index=True) if covered_rows else in_horizon.assign(true_hours=[])
    raw = (scored["method"] == "trend_prophet") & scored["drivers"].str.contains(RAW_NOTE, regex=False)
    degrading = np.zeros(len(fc), dtype=bool)
    for d in truth.itertuples(index=False):
        degrading |= ((fc["equipment_id"] == d.equipment_id) & (fc["as_of"] >= d.start - pd.Timedelta("7D"))
                      & (fc["as_of"] <= d.failure_at)).to_numpy()  # fmt: skip
    healthy = fc[~degrading & (fc["method"] != "none")]
    false = healthy[healthy["p_fail_7d"] >= 0.5]
    return {
        "degradations": len(per),
        "warned": int(per["warned"].sum()) if len(per) else 0,
        "warned_share": float(per["warned"].mean()) if len(per) else float("nan"),
        "median_first_warning_lead_hours": float(per["first_warning_lead_hours"].median()) if len(per) else float("nan"),
        "interval_coverage": _coverage(scored),
        "interval_level": float(config.trend.interval_level),
        "n_in_horizon_forecasts": len(scored),
        "median_abs_error_hours": float(np.median(np.abs(scored["rul_hours"] - scored["true_hours"]))) if len(scored) else float("nan"),
        "calibrated_share": float(1.0 - raw.mean()) if len(scored) else float("nan"),
        "interval_coverage_calibrated": _coverage(scored[~raw]),
        "interval_coverage_raw": _coverage(scored[raw]),
        "false_warnings": len(false),
        "false_warning_rate": float(len(false) / len(healthy)) if len(healthy) else float("nan"),
        "forecast_times": len(times),
        "seconds_per_forecast": seconds / max(1, len(times)),
        "model_fits": fits,
        "fit_seconds": fit_seconds,
        "per_degradation": per,
    }


def _coverage(rows: pd.DataFrame) -> float:
    return coverage(rows["rul_lower_hours"], rows["rul_upper_hours"], rows["true_hours"]) if len(rows) else float("nan")


def _degradations(faults: pd.DataFrame) -> pd.DataFrame:
    d = faults[(faults["fault_type"] == "degradation") & faults["failure_at"].notna() & (faults["failure_at"].astype(str) != "")]
    return pd.DataFrame({
        "equipment_id": d["equipment_id"].astype(str).to_numpy(),
        "start": pd.to_datetime(d["start"], utc=True).to_numpy(),
        "failure_at": pd.to_datetime(d["failure_at"], utc=True).to_numpy(),
    }).assign(start=lambda f: f["start"].dt.tz_localize("UTC") if f["start"].dt.tz is None else f["start"],
              failure_at=lambda f: f["failure_at"].dt.tz_localize("UTC") if f["failure_at"].dt.tz is None else f["failure_at"])  # fmt: skip
