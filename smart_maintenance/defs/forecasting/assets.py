"""Forecasting assets: remaining-useful-life models learned from failure history, equipment health and
failure forecasts. The rules live in `smart_maintenance.forecasting`; these assets load hourly
aggregates from the lake (DuckDB), call it and write the lake.

Causality: the forecast as of day D uses readings up to D and a model learned from the failures known
at D (models are cached by the set of failures they learned from, so one is fitted only when a new
failure arrives, never per micro-batch). A micro-batch reads only what it changed: the hourly medians of
unchanged days and the reference tables are kept by the process while their files are unchanged (inputs.py).
"""

import hashlib
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa

from smart_maintenance import artifacts, lake, schemas
from smart_maintenance.config import DataRoot
from smart_maintenance.defs.detection.assets import ON_ANY_UPDATE, ON_NEW_DATA
from smart_maintenance.defs.forecasting import inputs
from smart_maintenance.defs.metadata import OWNERS, column_schema, markdown_table
from smart_maintenance.defs.partitions import daily, days_in
from smart_maintenance.defs.resources import DataRootResource
from smart_maintenance.forecasting.calibration import RAW_NOTE
from smart_maintenance.forecasting.config import ForecastConfig
from smart_maintenance.forecasting.forecast import first_recent_bin, forecast_failures, recent_equipment
from smart_maintenance.forecasting.health import equipment_health as health_rows
from smart_maintenance.forecasting.models import RulModels, fit_rul_models

GROUP = "forecasting"
CONFIG = ForecastConfig()
SEED = 0
HISTORY_DAYS = 60  # hourly history a forecast or a health indicator looks at
TRAINING_DAYS = 365  # history the RUL models learn from (every failure in it ends one run-to-failure history)
AUTOMATIC_DAYS = 3  # forecasts are kept current for the latest days; older days are backfilled on demand

RECENT_NEW_DATA = (ON_NEW_DATA & dg.AutomationCondition.in_latest_time_window(timedelta(days=AUTOMATIC_DAYS))).with_label(
    f"new data in the last {AUTOMATIC_DAYS} days")


def hourly(root: DataRoot, last_day: str, days: int, reuse: bool = True) -> pd.DataFrame:
    """Hourly medians of every sensor over `days` days ending with `last_day` (what the core aggregates to)."""
    return inputs.hourly(root.lake, last_day, days, CONFIG.trend.aggregate, reuse)


def events(root: DataRoot) -> pd.DataFrame | None:
    return lake.read_dataset(root.lake, "maintenance_events").to_pandas() if lake.has_data(root.lake, "maintenance_events") else None


def latest_reading(root: DataRoot, day: str) -> pd.Timestamp | None:
    path = lake.partition_file(root.lake, "sensor_readings", "date", day)
    if path is None:
        return None
    (latest,) = lake.connect().execute(f"SELECT max(timestamp) FROM {lake.files_sql([path])}").fetchall()[0]
    return pd.Timestamp(latest)


def models_path(root: DataRoot, as_of: pd.Timestamp, evts: pd.DataFrame | None) -> Path:
    """Where the RUL models learned from the failures known at `as_of` are kept: named by that set of
    failures (with the config and the seed), so new readings alone never make new models."""
    failures = [] if evts is None else sorted(
        f"{e}|{t.isoformat()}" for e, t, k in zip(evts["equipment_id"], evts["timestamp"], evts["event_type"])
        if k == "failure" and t <= as_of)
    key = hashlib.sha256(("\n".join(failures) + CONFIG.fingerprint() + str(SEED)).encode()).hexdigest()[:16]
    return root.models / "rul" / f"{key}.pkl"


def models_as_of(root: DataRoot, as_of: pd.Timestamp, evts: pd.DataFrame | None) -> RulModels:
    """The RUL models learned from the failures known at `as_of` (fitted once per set of failures)."""
    path = models_path(root, as_of, evts)
    if path.exists():
        return artifacts.load(path)
    readings = hourly(root, as_of.date().isoformat(), TRAINING_DAYS, reuse=False)
    equipment, sensors = inputs.reference(root.reference, "equipment"), inputs.reference(root.reference, "sensors")
    models = fit_rul_models(readings, evts, equipment, CONFIG, as_of=as_of, seed=SEED, sensors=sensors)
    artifacts.save(path, models)
    return models


def _as_of(root: DataRoot, day: str) -> pd.Timestamp | None:
    """A day's forecast time: its last reading (the data's "now"), never the wall clock."""
    return latest_reading(root, day)


def _newest_readings(root: DataRoot, as_of: pd.Timestamp) -> pd.Series:
    """equipment_id -> its newest reading, for every equipment a forecast as of `as_of` covers: those with
    a reading in a bin of the `recent` window, on as_of's day or the days before: an equipment silent all
    day (a machine stopped for the weekend) keeps its row in the day's forecasts."""
    first = first_recent_bin(as_of, CONFIG)
    days = [d.date().isoformat() for d in pd.date_range(first.floor("D"), as_of.floor("D"), freq="D")]
    files = lake.partition_files(root.lake, "sensor_readings", "date", days)
    newest = lake.frame(lake.connect().sql(
        f"SELECT equipment_id, max(timestamp) AS t FROM {lake.files_sql(files)} "
        "WHERE timestamp >= ? AND timestamp <= ? GROUP BY ALL", params=[first.to_pydatetime(), as_of.to_pydatetime()]))
    return newest.set_index("equipment_id")["t"]


def _forecast_day(root: DataRoot, day: str, grid: pd.DataFrame, sensors: pd.DataFrame, equipment: pd.DataFrame,
                  evts: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """The day's forecasts (`as_of`: its last reading): equipment with no reading newer than its last
    forecast (and the same model) keeps that row; only equipment with new data is re-forecast, as of its
    newest reading."""
    newest = _newest_readings(root, as_of)
    previous = lake.partition_file(root.lake, "failure_forecasts", "date", day)
    kept = pd.DataFrame(columns=schemas.FAILURE_FORECASTS.names)
    if previous is not None:
        old = lake.frame(lake.connect().sql(f"SELECT * EXCLUDE (date) FROM {lake.files_sql([previous])}"))
        current = old["equipment_id"].map(newest) <= old["as_of"]
        models = models_as_of(root, old["as_of"].max(), evts) if len(old) else None
        kept = old[current & (old["model_version"] == (models.version if models else ""))]
    changed = sorted(set(newest.index) - set(kept["equipment_id"]))
    if not changed:
        return kept
    at = newest[changed].max()
    fresh = forecast_failures(grid[grid["equipment_id"].isin(changed)], sensors, equipment, models_as_of(root, at, evts),
                              at, CONFIG, evts, SEED)
    return pd.concat([kept, fresh], ignore_index=True) if len(kept) else fresh


@dg.asset(
    deps=["sensor_readings", "maintenance_events", "equipment", "sensors"],
    automation_condition=ON_ANY_UPDATE,
    group_name=GROUP, kinds={"scikitlearn", "prophet", "duckdb"}, owners=OWNERS,
)
def rul_models(data_root: DataRootResource) -> dg.MaterializeResult:
    """Remaining-useful-life models per equipment type, learned from run-to-failure histories (each
    `failure` event ends one), with quantile intervals and the backtest that chose, per type, between the
    learned model and the Prophet trend to the alarm limit; the same backtest calibrates the trend's
    interval (the alarm comes before the failure). Refitted only when the set of failures changes: after
    a batch of readings alone, the models already learned are loaded and reported (`refitted: false`)."""
    root = data_root.get()
    days = sorted(p.name.removeprefix("date=") for p in (root.lake / "sensor_readings").glob("date=*"))
    if not days:
        return dg.MaterializeResult(metadata={"histories": 0, "note": "no readings yet"})
    as_of, evts = latest_reading(root, days[-1]), events(root)
    refitted = not models_path(root, as_of, evts).exists()
    models = models_as_of(root, as_of, evts)
    meta = models.metadata()
    return dg.MaterializeResult(metadata={
        "version": meta["version"], "as_of": str(as_of), "refitted": refitted, "histories": len(models.histories),
        "training_window": f"{models.train_start} .. {models.train_end}" if len(models.histories) else "no failures yet",
        "learned_types": ", ".join(sorted(models.learned)) or "none",
        "methods": markdown_table([{"equipment_type": t, "method": m} for t, m in meta["methods"].items()]),
        "backtest_rmse_hours": markdown_table([{"equipment_type": t, "rmse_hours": v} for t, v in meta["backtest_rmse_hours"].items()]),
        # Types without a row of their own use the 'all types' row; with no row at all, trend forecasts keep
        # Prophet's raw interval (and say so in their drivers).
        "trend_calibration": markdown_table([
            {"scope": c["scope"], "failures": c["n_histories"], "backtest_points": c["n_points"],
             "factors_on_t_plus_offset": f"{c['lower_factor']} / {c['point_factor']} / {c['upper_factor']} (offset {c['offset_hours']} h)",
             "raw_coverage": c["raw_coverage"], "calibrated_coverage_loho": c["coverage_loho"]}
            for c in meta["trend_calibration"].values()]),
    })


@dg.asset(
    partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["sensor_readings", "maintenance_events", "sensors"],
    automation_condition=RECENT_NEW_DATA,
    group_name=GROUP, kinds={"duckdb", "parquet", "pandas"}, owners=OWNERS,
    metadata={"dagster/column_schema": column_schema(schemas.EQUIPMENT_HEALTH)},
)
def equipment_health(context: dg.AssetExecutionContext, data_root: DataRootResource) -> dg.MaterializeResult:
    """A daily health indicator per equipment: the typical distance of its sensors from their healthy
    baseline toward their alarm limits (0 = healthy baseline), its trend per day and the sensors that
    contribute most. The run of an equipment restarts after each repair."""
    root = data_root.get()
    sensors, equipment, evts = inputs.reference(root.reference, "sensors"), inputs.reference(root.reference, "equipment"), events(root)
    rows = 0
    for day in days_in(context.partition_time_window):
        as_of = _as_of(root, day)
        frame = pd.DataFrame()
        if as_of is not None:
            frame = health_rows(hourly(root, day, HISTORY_DAYS), sensors, as_of, CONFIG, evts, equipment,
                                models_as_of(root, as_of, evts).limit_offsets)
            frame = frame[frame["date"].dt.date.astype(str) == day]
        table = (pa.Table.from_pandas(frame[schemas.EQUIPMENT_HEALTH.names], schema=schemas.EQUIPMENT_HEALTH, preserve_index=False)
                 if len(frame) else schemas.EQUIPMENT_HEALTH.empty_table())
        lake.write_partition(root.lake, "equipment_health", "date", day, table)
        rows += table.num_rows
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


@dg.asset(
    partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["sensor_readings", "rul_models", "maintenance_events", "sensors", "equipment"],
    automation_condition=RECENT_NEW_DATA,
    group_name=GROUP, kinds={"prophet", "scikitlearn", "parquet"}, owners=OWNERS,
    metadata={"dagster/column_schema": column_schema(schemas.FAILURE_FORECASTS)},
    check_specs=[
        dg.AssetCheckSpec("forecast_for_every_recent_equipment", asset="failure_forecasts", blocking=True,
                          description="Every equipment with a recent reading has a forecast row (a method, or 'none' with the reason)."),
        dg.AssetCheckSpec("intervals_ordered_and_in_the_future", asset="failure_forecasts", blocking=True,
                          description="rul_lower <= rul <= rul_upper, and predicted_failure_at after as_of (real dates)."),
    ],
)
def failure_forecasts(context: dg.AssetExecutionContext, data_root: DataRootResource):
    """Per equipment and as-of time: remaining useful life with an 80% interval, the predicted failure
    time, probabilities of failure within 7 and 30 days, the method (`learned_rul` where failure history
    backs it, `trend_prophet` to the alarm limit, or `none` with the reason) and the top drivers. No
    crossing within the horizon is stated as beyond horizon, never as a made-up date."""
    root = data_root.get()
    sensors, equipment, evts = inputs.reference(root.reference, "sensors"), inputs.reference(root.reference, "equipment"), events(root)
    frames, missing, disordered = [], [], []
    for day in days_in(context.partition_time_window):
        as_of = _as_of(root, day)
        frame = pd.DataFrame()
        if as_of is not None:
            grid = hourly(root, day, HISTORY_DAYS)
            frame = _forecast_day(root, day, grid, sensors, equipment, evts, as_of)
            recent = set(recent_equipment(grid, as_of, CONFIG))
            missing += [f"{day}: {e}" for e in sorted(recent - set(frame["equipment_id"]))]
            dated = frame[~frame["beyond_horizon"].astype(bool) & frame["rul_hours"].notna()]
            bad = dated[(dated["rul_lower_hours"] > dated["rul_hours"]) | (dated["rul_hours"] > dated["rul_upper_hours"])
                        | (dated["predicted_failure_at"] <= dated["as_of"]) | (dated["predicted_failure_at"].dt.year < 2000)]
            disordered += [f"{day}: {e}" for e in bad["equipment_id"]]
            frames.append(frame)
        table = (pa.Table.from_pandas(frame[schemas.FAILURE_FORECASTS.names], schema=schemas.FAILURE_FORECASTS, preserve_index=False)
                 if len(frame) else schemas.FAILURE_FORECASTS.empty_table())
        lake.write_partition(root.lake, "failure_forecasts", "date", day, table)
    latest = frames[-1] if frames else pd.DataFrame(columns=schemas.FAILURE_FORECASTS.names)
    at_risk = latest[latest["p_fail_30d"].fillna(0) >= 0.5].sort_values("rul_hours") if len(latest) else latest
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": int(sum(len(f) for f in frames)),
        "methods": ", ".join(f"{m} {n}" for m, n in latest["method"].value_counts().items()) if len(latest) else "none",
        "trend_intervals": _trend_intervals(latest),
        "at_risk_30d": markdown_table([{"equipment": r["equipment_id"], "rul_hours": round(r["rul_hours"], 1),
                                        "interval": f"{r['rul_lower_hours']:.0f}..{r['rul_upper_hours']:.0f} h",
                                        "predicted_failure_at": str(r["predicted_failure_at"]), "method": r["method"],
                                        "drivers": r["drivers"]} for _, r in at_risk.head(10).iterrows()]),
    })
    yield dg.AssetCheckResult(check_name="forecast_for_every_recent_equipment", passed=not missing,
                              metadata={"missing": ", ".join(missing[:20]) or "none"})
    yield dg.AssetCheckResult(check_name="intervals_ordered_and_in_the_future", passed=not disordered,
                              metadata={"violations": ", ".join(disordered[:20]) or "none"})


def _trend_intervals(forecasts: pd.DataFrame) -> str:
    """How many trend forecasts were calibrated on past failures, how many kept Prophet's raw interval."""
    trend = forecasts[forecasts["method"] == "trend_prophet"] if len(forecasts) else forecasts
    raw = int(trend["drivers"].str.contains(RAW_NOTE, regex=False).sum()) if len(trend) else 0
    return f"calibrated on past failures {len(trend) - raw}, raw Prophet interval {raw}"


ASSETS = [rul_models, equipment_health, failure_forecasts]
