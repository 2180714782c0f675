"""The one-shot run: everything pending in landing/ ingested and every asset brought up to date, in
process, with the same Definitions the daemon loads. What cron users, CI and benchmarks call."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from smart_maintenance import lake
from smart_maintenance.config import DataRoot
from smart_maintenance.defs.staleness import latest_id, latest_ids, stale

EMBEDDED_INSTANCE_YAML = """\
# Embedded Dagster instance of this data root: SQLite storage in this folder, no services to run.
# For production storage (PostgreSQL) see dagster.yaml at the top of the repository.
telemetry:
  enabled: false
# Micro-batch latency: the queue is looked at every second (Dagster's default is 5 s), and sensors are
# evaluated in threads, so a slow automation tick never delays the landing sensor.
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 4
    dequeue_interval_seconds: 1
    dequeue_use_threads: true
sensors:
  use_threads: true
  num_workers: 2
"""


def ensure_instance_home(root: DataRoot) -> Path:
    """The Dagster home to use: DAGSTER_HOME if set, else the data root's embedded SQLite instance."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = root.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(EMBEDDED_INSTANCE_YAML)
    return home


def instance_for(root: DataRoot) -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME or the data root (same run and event storage), for in-process runs.

    Without capturing stdout/stderr: the default compute log manager starts a `tail -F` and an
    orphan-watching Python per stream and run, ~30 ms of CPU and four processes per execute_in_process,
    a dozen of which make one `smart-maintenance run`. The runs and their event logs still show in the
    UI; runs the daemon launches keep their captured logs (the instance's dagster.yaml)."""
    from dagster._core.instance.ref import InstanceRef

    home = ensure_instance_home(root)
    no_capture = {"compute_logs": {"module": "dagster._core.storage.noop_compute_log_manager",
                                   "class": "NoOpComputeLogManager"}}  # fmt: skip
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=no_capture))


@dataclass
class RunSummary:
    runs: list[tuple[str, bool, float]] = field(default_factory=list)  # (step, success, seconds)
    files: list[dict] = field(default_factory=list)  # ledger rows of this run's batch
    progress: Callable[[str, bool, float], None] | None = None  # told of each step as it ends

    def add(self, step: str, ok: bool, seconds: float) -> None:
        self.runs.append((step, ok, seconds))
        if self.progress is not None:
            self.progress(step, ok, seconds)

    @property
    def success(self) -> bool:
        return all(ok for _, ok, _ in self.runs)

    @property
    def rejected(self) -> list[dict]:
        return [f for f in self.files if f["status"] == "rejected"]


def run_once(root: DataRoot, *, now: str = "", min_file_age_seconds: float = 2.0, log_level: str = "WARNING",
             progress: Callable[[str, bool, float], None] | None = None) -> RunSummary:
    """Materialize reference data, ingest pending files, then refresh what depends on them.
    `progress(step, ok, seconds)` is called as each step ends."""
    from smart_maintenance.definitions import build_defs

    defs = build_defs(str(root.root))
    loggers = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    summary = RunSummary(progress=progress)
    with instance_for(root) as instance:
        if _reference_changed(root, instance):
            started = time.perf_counter()
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey(k) for k in REFERENCE_ASSETS],
                run_config=loggers, raise_on_error=False)
            summary.add("reference data", result.success, time.perf_counter() - started)

        started = time.perf_counter()
        config = {"files": [], "min_file_age_seconds": min_file_age_seconds, "now": now}
        result = defs.resolve_job_def("ingest_landing").execute_in_process(
            run_config={"ops": {"ingest_landing_files": {"config": config}}, **loggers}, instance=instance,
            raise_on_error=False)
        # "+ scores, alerts" when the ingest run also detected (defs/detection/inline.py): alerts are done there.
        inline = any(m.asset_key == dg.AssetKey("alerts") for m in result.asset_materializations_for_node("ingest_landing_files"))
        summary.add("ingest landing files" + INLINE_SUFFIX * inline, result.success, time.perf_counter() - started)
        summary.files = _batch_files(root, result.run_id)
        _refresh_downstream(root, defs, instance, summary, loggers)
    return summary


def _refresh_downstream(root: DataRoot, defs: dg.Definitions, instance: dg.DagsterInstance, summary: RunSummary,
                        loggers: dict) -> None:
    """Bring every asset downstream of the readings up to date, in dependency order, touching only the
    partitions whose inputs changed (the same rules the model sensor and the automation apply)."""
    from smart_maintenance.defs.detection.sensors import models_to_fit, range_tags
    from smart_maintenance.defs.maintenance import refresh as refresh_maintenance
    from smart_maintenance.detection.retraining import contiguous_ranges, days_to_score

    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()

    def materialize(step: str, key: str, ranges: list[tuple[str, str]] | None = None) -> None:
        started, ok = time.perf_counter(), True
        # The asset and its own checks; the drift check (a check of anomaly_scores with its own cadence)
        # runs once below, not with every range of scores.
        checks = {c for c in graph.asset_check_keys if c.asset_key == dg.AssetKey(key) and c != DRIFT_CHECK}
        subset = job.get_subset(asset_selection={dg.AssetKey(key)}, asset_check_selection=checks)
        for first, last in ranges if ranges is not None else [(None, None)]:
            tags = range_tags(first, last) if first else None
            result = subset.execute_in_process(instance=instance, tags=tags, run_config=loggers, raise_on_error=False)
            ok = ok and result.success
        count = f" ({len(ranges)} range{'s' * (len(ranges) != 1)})" if ranges else ""
        summary.add(step + count, ok, time.perf_counter() - started)

    if weeks := models_to_fit(instance, root=root):
        materialize("detection models", "detection_models", weeks)
    days = days_to_score(latest_ids(instance, "sensor_readings"), latest_ids(instance, "detection_models"),
                         latest_ids(instance, "anomaly_scores"))
    if days:
        materialize("anomaly scores", "anomaly_scores", contiguous_ranges(days))
    if stale(instance, "alerts", ["anomaly_scores", "maintenance_events", "equipment"]):
        materialize("alerts", "alerts")
    _refresh_forecasts(instance, materialize)
    refresh_maintenance(instance, materialize)
    if readings := latest_ids(instance, "sensor_readings"):
        # The report of the latest day with readings, rebuilt when anything it shows changed after it.
        last_day = max(readings)
        built = latest_ids(instance, "daily_report").get(last_day, -1)
        inputs = ("sensor_readings", "anomaly_scores", "alerts", "failure_forecasts", "ingested_files",
                  "maintenance_requests", "technician_schedule")
        if any(latest_id(instance, k) > built for k in inputs):
            materialize("daily report", "daily_report", [(last_day, last_day)])
    if _drift_due(instance, latest_ids(instance, "sensor_readings")):
        started = time.perf_counter()
        result = defs.resolve_job_def("drift_check").execute_in_process(instance=instance, run_config=loggers,
                                                                        raise_on_error=False)
        summary.add("drift check", result.success, time.perf_counter() - started)


def _drift_due(instance: dg.DagsterInstance, readings: dict[str, int]) -> bool:
    """The drift check compares the last week of readings with the four before it, as of the newest day:
    run it when that day changed since its last evaluation (the daemon runs it daily), not after every
    micro-batch of the same day."""
    from smart_maintenance.defs.detection.assets import DRIFT_LAST_DAY

    if not readings:
        return False
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([DRIFT_CHECK]).get(DRIFT_CHECK)
    evaluation = record.event.asset_check_evaluation if record is not None and record.event is not None else None
    last_day = evaluation.metadata.get(DRIFT_LAST_DAY) if evaluation is not None else None
    return last_day is None or last_day.value != max(readings)


def _refresh_forecasts(instance: dg.DagsterInstance, materialize) -> None:
    """RUL models when their inputs changed; health and forecasts for the latest days whose readings changed
    (the automation keeps the same window current; older days are backfilled on demand)."""
    from smart_maintenance.defs.forecasting.assets import AUTOMATIC_DAYS
    from smart_maintenance.detection.retraining import contiguous_ranges

    if stale(instance, "rul_models", ["sensor_readings", "maintenance_events", "equipment", "sensors"]):
        materialize("RUL models", "rul_models")
    readings = latest_ids(instance, "sensor_readings")
    recent = sorted(readings)[-AUTOMATIC_DAYS:]
    for key, step in (("equipment_health", "equipment health"), ("failure_forecasts", "failure forecasts")):
        own = latest_ids(instance, key)
        behind = [d for d in recent if own.get(d, -1) < readings[d]]
        if behind:
            materialize(step, key, contiguous_ranges(behind))


REFERENCE_ASSETS = ("equipment", "sensors", "technicians")
INLINE_SUFFIX = " + scores, alerts"
DRIFT_CHECK = dg.AssetCheckKey(dg.AssetKey("anomaly_scores"), "sensor_drift")


def _reference_changed(root: DataRoot, instance: dg.DagsterInstance) -> bool:
    """Whether a reference CSV changed since the reference assets were last materialized."""
    from smart_maintenance.reference import FILES

    records = instance.fetch_materializations(dg.AssetKey("equipment"), limit=1).records
    if not records:
        return True
    stamps = [(root.reference / f).stat().st_mtime for f in FILES.values() if (root.reference / f).exists()]
    return max(stamps, default=0) > records[0].timestamp


def _batch_files(root: DataRoot, run_id: str) -> list[dict]:
    path = lake.partition_file(root.lake, "ingested_files", "batch", run_id)
    if path is None:
        return []
    return lake.read_table(path).to_pylist()


def format_summary(root: DataRoot, summary: RunSummary) -> str:
    lines = []
    for step, ok, seconds in summary.runs:
        lines.append(f"{'ok  ' if ok else 'FAIL'} {step:24} {seconds:7.1f} s")
    files = summary.files
    if files:
        by = lambda status: [f for f in files if f["status"] == status]  # noqa: E731
        total = lambda key: sum(f[key] or 0 for f in files)  # noqa: E731
        partitions = sorted({p for f in files for p in (f["partitions"] or [])})
        lines.append(f"files: {len(by('ingested'))} ingested, {len(by('duplicate_file'))} duplicate, "
                     f"{len(by('rejected'))} rejected")
        lines.append(f"rows: {total('rows_read')} read = {total('rows_kept')} kept + {total('rows_quarantined')} quarantined "
                     f"+ {total('rows_duplicate')} duplicates")
        if partitions:
            lines.append(f"partitions: {len(partitions)} daily ({partitions[0]} .. {partitions[-1]})")
        for f in by("rejected"):
            lines.append(f"rejected: {f['source_file']}: {f['reason']}  (see {f['archived_to']}.error.json)")
    else:
        lines.append("files: nothing pending in landing/")
    lines.append(f"lake: {root.lake}  (DuckDB: read_parquet('{root.lake}/<dataset>/**/*.parquet', hive_partitioning=true))")
    reports = sorted((root.reports / "daily").glob("*.html"))
    if reports:
        lines.append(f"report: {reports[-1]}")
    return "\n".join(lines)
