"""Detection assets: weekly models, daily anomaly scores, alerts with their validation.

The rules live in `smart_maintenance.detection`; these assets load lake data, call it, write the lake
and report what they measured. Scores are causal: day D is scored with the model of D's week (fitted
on the weeks before it) and the readings up to each reading.
"""

import math
from datetime import datetime, timedelta

import dagster as dg
import pandas as pd
import pyarrow as pa

from smart_maintenance import artifacts, lake, schemas
from smart_maintenance.config import DataRoot
from smart_maintenance.defs.detection.loading import (
    ALERT_BATCH_ROWS, READING_COLUMNS, History, anomalies, equipment_batches, load_resets, read_readings,
    readings_by_equipment, rebaselines_for, validation_scores, warmups_for,
)  # fmt: skip
from smart_maintenance.defs.checks import Check
from smart_maintenance.defs.detection import reuse
from smart_maintenance.defs.detection.resources import DetectionResource
from smart_maintenance.defs.metadata import OWNERS, column_schema, markdown_table
from smart_maintenance.defs.partitions import daily, days_in, weekly
from smart_maintenance.defs.resources import DataRootResource
from smart_maintenance.detection import (
    Models, build_alerts, check_alert_rate, check_no_credible_from_faulty_sensor, check_scored_once,
    check_scores_in_range, fit_models, score_readings, validate_alerts,
)  # fmt: skip
from smart_maintenance.detection.alerts import ALERT_COLUMNS
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.models import fit_models_by_equipment
from smart_maintenance.detection.resets import applicable_resets, baseline_resets, resets_fingerprint
from smart_maintenance.detection.validation import rows_read
from smart_maintenance.detection.retraining import training_days, week_of, week_resets
from smart_maintenance.detection.scoring import scored_versions
from smart_maintenance.reference import read_reference

GROUP = "detection"
TRAINING_WEEKS = math.ceil(DetectionConfig().baseline.training_window / timedelta(weeks=1))
RESETS_METADATA, ROOT_METADATA = "resets_by_week", "data_root"

# Recompute a day as soon as its readings (or its week's model) changed, for any day, not only the
# latest time window (historical files are normal here), once its model exists. "Since last handled":
# an update seen while another input was still being computed is remembered until the asset is
# requested (or updated), not forgotten at the next tick (that lost the alerts of a micro-batch whose
# two days were scored by two runs).
DEPS_UPDATED = dg.AutomationCondition.any_deps_updated().since_last_handled().with_label("a dep updated since last handled")
ON_NEW_DATA = (
    DEPS_UPDATED
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("on new data")
ON_ANY_UPDATE = (
    DEPS_UPDATED
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("on any upstream update")


def model_path(root: DataRoot, week: str):
    return root.models / "detection" / f"week={week}.pkl"


def load_models(root: DataRoot, week: str, config: DetectionConfig) -> Models:
    """The model of `week`, or an empty one (on-line baselines only) if none was fitted."""
    path = model_path(root, week)
    if path.exists():
        return artifacts.load(path)
    as_of = pd.Timestamp(week, tz="UTC") - pd.Timedelta(microseconds=1)
    return fit_models(pd.DataFrame(columns=READING_COLUMNS), config, as_of=as_of)


@dg.asset(
    partitions_def=weekly,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetDep("sensor_readings", partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-TRAINING_WEEKS, end_offset=-1)),
          "maintenance_events"],
    group_name=GROUP,
    kinds={"scikitlearn", "duckdb"},
    owners=OWNERS,
)
def detection_models(context: dg.AssetExecutionContext, data_root: DataRootResource, detection: DetectionResource):
    """Per-sensor robust baselines and a per-equipment multivariate model (Hotelling T² on smoothed,
    standardised sensor features), fitted for week W on the readings of the weeks before W; a sensor
    repaired in that window learns only from its readings after the repair. Refitted when those readings
    change, or when a repair event of W or its training weeks arrives (the `model_sensor` watches), never
    on a micro-batch of week W itself."""
    root, config = data_root.get(), detection.config()
    sensors = read_reference(root.reference, "sensors").to_pandas()
    resets = load_resets(root, config)
    fitted = []
    week = context.partition_time_window.start
    while week < context.partition_time_window.end:
        key = week.date().isoformat()
        # One equipment at a time from the lake: the same models as fitting all readings at once (issue 8).
        chunks = readings_by_equipment(root, training_days(key, TRAINING_WEEKS))
        models = fit_models_by_equipment(chunks, config, as_of=pd.Timestamp(week) - pd.Timedelta(microseconds=1),
                                         sensors=sensors, resets=resets)
        artifacts.save(model_path(root, key), models)
        fitted.append({"week": key, **models.metadata(),
                       "resets": resets_fingerprint(week_resets(resets, key, TRAINING_WEEKS))})
        week += timedelta(weeks=1)
    last = fitted[-1]
    return dg.MaterializeResult(metadata={
        "weeks_fitted": len(fitted),
        "training_window": f"{last['train_start']} .. {last['train_end']}",
        "n_readings": last["n_readings"], "n_sensors": last["n_sensors"],
        "n_equipment_models": last["n_equipment_models"], "version": last["version"],
        "models": markdown_table([{k: m[k] for k in ("week", "version", "train_start", "train_end", "n_readings",
                                                      "n_sensors", "n_equipment_models")} for m in fitted]),
        "path": dg.MetadataValue.path(str(model_path(root, last["week"]))),
        # What the model sensor compares with the lake to refit a week when a repair event arrives late.
        RESETS_METADATA: dg.MetadataValue.json({m["week"]: m["resets"] for m in fitted}),
        ROOT_METADATA: str(root.root),
    })


@dg.asset(
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["sensor_readings", "detection_models"],
    automation_condition=ON_NEW_DATA,
    group_name=GROUP,
    kinds={"duckdb", "parquet", "numpy"},
    owners=OWNERS,
    metadata={"dagster/column_schema": column_schema(schemas.ANOMALY_SCORES)},
    check_specs=[
        dg.AssetCheckSpec("scored_exactly_once", asset="anomaly_scores", blocking=True,
                          description="Every reading of the day is scored exactly once."),
        dg.AssetCheckSpec("scores_in_range", asset="anomaly_scores", blocking=True,
                          description="anomaly_score and every detector score lie in [0, 1]."),
    ],
)
def anomaly_scores(context: dg.AssetExecutionContext, data_root: DataRootResource, detection: DetectionResource):
    """One row per reading: each detector's calibrated score (deviation from the sensor's baseline, rate
    of change, stuck value, gap, out of range, multivariate), the ensemble `anomaly_score` (0..1, 0.5 =
    decision boundary) and `is_anomaly` (threshold per sensor type). Causal: uses only earlier readings.
    After a repair (corrective repair, replacement) a sensor is judged against a baseline re-learned from
    its readings after the repair."""
    metadata, checks = score_days(data_root.get(), detection.config(), days_in(context.partition_time_window))
    yield dg.MaterializeResult(metadata=metadata)
    for check in checks:
        yield check.result()


def score_days(root: DataRoot, config: DetectionConfig, days: list[str]) -> tuple[dict, list[Check]]:
    """Score some days (sorted, consecutive) and write their partitions: the work of `anomaly_scores`,
    whichever run does it. A day is scored under its partition lock, so two runs scoring the same day
    one after the other leave the scores of the readings the later one read."""
    history = History.before(root, days[0], config.lookback_readings)
    resets = load_resets(root, config)
    models: dict[str, Models] = {}
    rebaselines: dict[str, pd.DataFrame | None] = {}
    n_readings = n_scores = n_anomalies = 0
    scored_ok, range_ok, problems = True, True, []
    for day in days:
        with lake.partition_locks(root.lake, "anomaly_scores", [day]):
            readings = read_readings(root, [day])
            if len(readings) == 0:
                lake.write_partition(root.lake, "anomaly_scores", "date", day, schemas.ANOMALY_SCORES.empty_table())
                continue
            week = week_of(day)
            if week not in models:
                models[week] = load_models(root, week, config)
                applicable = applicable_resets(resets, models[week], until=pd.Timestamp(week, tz="UTC") + timedelta(weeks=1))
                rebaselines[week] = rebaselines_for(root, applicable, applicable, days[-1], config)
            scores = _score_day(root, day, readings, history, models[week], config, rebaselines[week])
            table = pa.Table.from_pandas(scores[schemas.ANOMALY_SCORES.names], schema=schemas.ANOMALY_SCORES, preserve_index=False)
            lake.write_partition(root.lake, "anomaly_scores", "date", day, table)
        once, once_meta = check_scored_once(readings, scores)
        in_range, range_meta = check_scores_in_range(scores)
        scored_ok, range_ok = scored_ok and once, range_ok and in_range
        if not (once and in_range):
            problems.append({"day": day, **once_meta, "out_of_range": range_meta["out_of_range"]})
        n_readings, n_scores, n_anomalies = n_readings + len(readings), n_scores + len(scores), n_anomalies + int(scores["is_anomaly"].sum())
        if day != days[-1]:
            history = history.then(readings)
    metadata = {
        "dagster/row_count": n_scores, "days": len(days), "anomalies": n_anomalies,
        "anomaly_rate": round(n_anomalies / n_scores, 5) if n_scores else 0.0,
        "model_versions": ", ".join(sorted(m.version for m in models.values())) or "none",
        "rebaselined_sensors": sum(int(r["sensor_id"].notna().sum()) for r in rebaselines.values() if r is not None),
    }
    return metadata, [
        Check("anomaly_scores", "scored_exactly_once", scored_ok,
              {"readings": n_readings, "scores": n_scores, "problems": markdown_table(problems)}),
        Check("anomaly_scores", "scores_in_range", range_ok, {"rows": n_scores}),
    ]


def _score_day(root: DataRoot, day: str, readings: pd.DataFrame, history: History, models: Models,
               config: DetectionConfig, rebaselines: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scores of a day's readings. When the day was scored before with the same model (and the same
    re-baselines after repairs) and its readings only grew at the end (the usual micro-batch), only the
    new readings are scored, with everything before them as history: scoring is causal, so the result
    equals a full re-score, at a fraction of the cost. Late or corrected readings inside the scored
    span, or a repair event learned since, mean a full re-score."""
    path = lake.partition_file(root.lake, "anomaly_scores", "date", day)
    if path is not None:
        existing = lake.connect().sql(f"SELECT * EXCLUDE (date) FROM {lake.files_sql([path])}").to_arrow_table().to_pandas()
        cut = existing["timestamp"].max()
        key = ["equipment_id", "sensor_id", "timestamp"]
        old = readings[readings["timestamp"] <= cut].sort_values(key, kind="stable").reset_index(drop=True)
        existing = existing.sort_values(key, kind="stable").reset_index(drop=True)
        # Column by column (no Python objects); different dtypes compare unequal: a full re-score, never a wrong one.
        unchanged = (len(old) == len(existing)
                     and all(old[c].equals(existing[c]) for c in key)
                     and (old["value"].to_numpy() == existing["value"].to_numpy()).all()
                     and (existing["model_version"].to_numpy() == scored_versions(existing, models, rebaselines)).all())
        if unchanged:
            new = readings[readings["timestamp"] > cut]
            if len(new) == 0:
                return existing
            earlier = pd.concat([history.needed_before(old), old]).groupby(["equipment_id", "sensor_id"]).tail(config.lookback_readings)
            return pd.concat([existing, score_readings(new, earlier, models, config, rebaselines)], ignore_index=True)
    return score_readings(readings, history.all(), models, config, rebaselines)


@dg.asset(
    deps=["anomaly_scores", "maintenance_events", "equipment"],
    automation_condition=ON_ANY_UPDATE,
    group_name=GROUP,
    kinds={"duckdb", "parquet", "pandas"},
    owners=OWNERS,
    metadata={"dagster/column_schema": column_schema(schemas.ALERTS)},
    check_specs=[
        dg.AssetCheckSpec("alert_rate", asset="alerts",
                          description="Alerts per equipment-day within bounds (an alert storm means miscalibration)."),
        dg.AssetCheckSpec("no_credible_alert_from_faulty_sensor", asset="alerts", blocking=True,
                          description="A sensor judged faulty (stuck, out of range, dropout) never raises a credible alert."),
    ],
)
def alerts(context: dg.AssetExecutionContext, data_root: DataRootResource, detection: DetectionResource):
    """Episodes of consecutive anomalous readings per sensor, with a stable `alert_id`, severity (score,
    persistence, equipment criticality) and the validation agents' verdict: `validation_status`
    (credible / needs_investigation / suspected_false_positive) with human-readable reasons."""
    metadata, checks = refresh_alerts(data_root.get(), detection.config())
    yield dg.MaterializeResult(metadata=metadata)
    for check in checks:
        yield check.result()


def refresh_alerts(root: DataRoot, config: DetectionConfig) -> tuple[dict, list[Check]]:
    """Rebuild the alerts from every score in the lake and write them: the work of `alerts`, whichever
    run does it. Under one lock from reading the scores to writing the alerts: of two runs refreshing at
    once, the later reads the scores the earlier wrote, never the other way round."""
    with lake.partition_locks(root.lake, "alerts", ["all"]):
        if not lake.has_data(root.lake, "anomaly_scores"):
            lake.write_dataset(root.lake, "alerts", schemas.ALERTS.empty_table())
            return {"dagster/row_count": 0}, [Check("alerts", "alert_rate", True, {}, dg.AssetCheckSeverity.WARN),
                                              Check("alerts", "no_credible_alert_from_faulty_sensor", True, {})]
        summary = reuse.score_summary(root)  # one scan: fingerprints, each sensor's last reading, equipment-days
        found, prints, rebuilt = _build_alerts(root, config, summary)
        table = pa.Table.from_pandas(found.reindex(columns=schemas.ALERTS.names), schema=schemas.ALERTS, preserve_index=False)
        lake.write_dataset(root.lake, "alerts", reuse.with_fingerprints(table, prints))
    rate_ok, rate_meta = check_alert_rate(found, _equipment_days(summary), config)
    faulty_ok, faulty_meta = check_no_credible_from_faulty_sensor(found)
    by = found.groupby(["severity", "validation_status"]).size().reset_index(name="alerts").to_dict("records") if len(found) else []
    chart = {}
    if len(found):
        from smart_maintenance.reporting.png import markdown_image, stacked_bars_png

        per_day = found.assign(day=found["started_at"].dt.date).groupby(["day", "validation_status"]).size().reset_index(name="n")
        per_day = per_day[per_day["day"] >= per_day["day"].max() - timedelta(days=13)]
        chart = {"alerts_per_day": dg.MetadataValue.md(markdown_image(
            stacked_bars_png(per_day, "day", "validation_status", "n", "alerts started per day (last 14 days)"), "alerts per day"))}
    metadata = {
        **chart,
        "dagster/row_count": len(found),
        "equipment_rebuilt": f"{len(rebuilt)} of {len(prints)}",
        "credible": int((found["validation_status"] == "credible").sum()) if len(found) else 0,
        "open": int(found["is_open"].sum()) if len(found) else 0,
        "by_severity_and_status": markdown_table(by),
    }
    return metadata, [
        Check("alerts", "alert_rate", rate_ok,
              {k: v for k, v in rate_meta.items() if not isinstance(v, (list, dict))}
              | {"top_offenders": markdown_table(rate_meta["top_offenders"])}, dg.AssetCheckSeverity.WARN),
        Check("alerts", "no_credible_alert_from_faulty_sensor", faulty_ok,
              {"violations": faulty_meta["violations"], "alert_ids": ", ".join(faulty_meta["alert_ids"]) or "none"}),
    ]


def _build_alerts(root: DataRoot, config: DetectionConfig, summary: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Every equipment's alerts, validated: rebuilt for the equipment whose inputs changed since the
    alerts in the lake were built, kept for the others (reuse.py). Also the fingerprints, and which
    equipment was rebuilt. summary: reuse.score_summary."""
    equipment = read_reference(root.reference, "equipment").to_pandas()
    sensors = read_reference(root.reference, "sensors").to_pandas()
    events = lake.read_dataset(root.lake, "maintenance_events").to_pandas() if lake.has_data(root.lake, "maintenance_events") else None
    resets = baseline_resets(events, config, sensors)  # load_resets, from the events and sensors at hand
    prints = reuse.fingerprints(root, config, summary, events, resets, equipment, sensors)
    old, old_prints = reuse.previous(root)
    rebuilt = sorted(e for e in prints if old_prints.get(e) != prints[e])
    parts = _rebuild(root, config, rebuilt, summary, equipment, events, resets)
    if old is not None:
        parts |= _by_equipment(old[old["equipment_id"].isin(set(prints) - set(rebuilt))])
    ordered = [parts[e] for e in sorted(parts)]  # equipment order, as one rebuild of everything gives
    found = pd.concat(ordered, ignore_index=True) if ordered else pd.DataFrame(columns=ALERT_COLUMNS)
    return found, prints, rebuilt


def _rebuild(root: DataRoot, config: DetectionConfig, equipment_ids: list[str], summary: pd.DataFrame,
             equipment: pd.DataFrame, events: pd.DataFrame | None, resets: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The validated alerts of some equipment, by equipment: episodes from their anomalies, validated
    with the score rows validation reads (a fraction of them), a group of equipment at a time (bounded
    memory; corroboration and operating state never cross equipment)."""
    per_sensor = summary.groupby(["equipment_id", "sensor_id"], as_index=False, dropna=False).agg(last=("last", "max"), n=("n", "sum"))
    found = build_alerts(anomalies(root, equipment_ids), config, equipment)
    if len(found) == 0:
        return {}
    found = found.merge(per_sensor[["equipment_id", "sensor_id", "last"]], on=["equipment_id", "sensor_id"], how="left")
    found["is_open"] = found["ended_at"] == found.pop("last")  # open only if anomalous at the sensor's last reading
    # The warm-ups of all their resets in one query (those with no alert near are read but cannot match one).
    last_day = per_sensor["last"].max().date().isoformat()
    warmups = warmups_for(root, resets[resets["equipment_id"].isin(equipment_ids)], last_day, config)
    alerted = per_sensor[per_sensor["equipment_id"].isin(set(found["equipment_id"]))].groupby("equipment_id")["n"].sum()
    parts = {}
    for batch in equipment_batches(alerted, ALERT_BATCH_ROWS):
        mine = found[found["equipment_id"].isin(batch)]
        parts |= _by_equipment(validate_alerts(mine, validation_scores(root, *rows_read(mine, config)), events, config, warmups))
    return parts


def _by_equipment(alerts: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {equipment_id: rows for equipment_id, rows in alerts.groupby("equipment_id", sort=False)}


def _equipment_days(summary: pd.DataFrame) -> pd.DataFrame:
    """The days each equipment has scores, as (equipment_id, timestamp of the day's start), from score_summary."""
    days = summary[["equipment_id", "date"]].drop_duplicates()
    return pd.DataFrame({"equipment_id": days["equipment_id"], "timestamp": pd.to_datetime(days["date"], utc=True)})


ASSETS = [detection_models, anomaly_scores, alerts]


DRIFT_RECENT_DAYS, DRIFT_SAMPLE = 7, 2000
DRIFT_LAST_DAY = "last_day"  # the newest day with readings when the check ran (its windows end there)


@dg.asset_check(asset=anomaly_scores, name="sensor_drift",
                description="Per sensor, the distribution of the last 7 days against the 28 days before (two-sample KS); "
                            "drifted sensors are listed: their baselines are stale until the next weekly model.",
                automation_condition=dg.AutomationCondition.on_cron("0 4 * * *"))
def sensor_drift(data_root: DataRootResource, detection: DetectionResource) -> dg.AssetCheckResult:
    from smart_maintenance.detection import check_drift

    root, config = data_root.get(), detection.config()
    days = sorted(p.name.removeprefix("date=") for p in (root.lake / "sensor_readings").glob("date=*"))
    if not days:
        return dg.AssetCheckResult(passed=True, description="no readings", metadata={"sensors_judged": 0})
    last = datetime.fromisoformat(days[-1])
    window = lambda lo, hi: [(last - timedelta(days=i)).date().isoformat() for i in range(hi - 1, lo - 1, -1)]
    sample = lambda ds: _sample(root, ds)
    recent, reference = sample(window(0, DRIFT_RECENT_DAYS)), sample(window(DRIFT_RECENT_DAYS, DRIFT_RECENT_DAYS + TRAINING_WEEKS * 7))
    passed, meta = check_drift(reference, recent, config)
    return dg.AssetCheckResult(
        passed=passed, severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(meta['drifted'])} of {meta['sensors_judged']} sensors drifted (KS > {meta['ks_max']})",
        metadata={DRIFT_LAST_DAY: days[-1], "sensors_judged": meta["sensors_judged"], "drifted_sensors": len(meta["drifted"]),
                  "drifted": markdown_table([{k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}
                                             for d in meta["drifted"]])})


def _sample(root: DataRoot, days: list[str]) -> pd.DataFrame:
    """Up to DRIFT_SAMPLE readings per sensor from those days (a deterministic pseudo-random sample)."""
    files = lake.partition_files(root.lake, "sensor_readings", "date", days)
    if not files:
        return pd.DataFrame(columns=READING_COLUMNS)
    return lake.frame(lake.connect().sql(
        f"SELECT {', '.join(READING_COLUMNS)} FROM {lake.files_sql(files)} "
        f"QUALIFY row_number() OVER (PARTITION BY equipment_id, sensor_id ORDER BY hash(timestamp)) <= {DRIFT_SAMPLE}"))


CHECKS = [sensor_drift]
drift_check_job = dg.define_asset_job(
    "drift_check", selection=dg.AssetSelection.checks(sensor_drift),
    description="Compare each sensor's last week with its reference window (also runs daily at 04:00 UTC).")
