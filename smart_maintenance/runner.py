"""The one-shot run: everything pending in landing/ ingested and every asset brought up to date, in
process, with the same Definitions the daemon loads. What cron users, CI and benchmarks call; `watch`
does the same for each batch that lands, in one long-lived process."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from smart_maintenance import lake
from smart_maintenance.config import REPORT_EVERY_SECONDS, DataRoot
from smart_maintenance.defs.staleness import latest_id, latest_ids, materialized_at, stale

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

    Built a second time after one failure of Dagster's own: on an empty PostgreSQL database, a process
    that found no tables creates them, then migrates the runs it finds there before its instance exists;
    another process started at the same time may have created its first run by then, and migrating it
    fails with "Attempted to resolve undefined DagsterInstance weakref". The tables exist on the second
    try, which takes the usual path (seen with four `smart-maintenance run` started at once)."""
    ref = instance_ref(root)
    try:
        return dg.DagsterInstance.from_ref(ref)
    except dg.DagsterInvariantViolationError as exc:
        if "DagsterInstance weakref" not in str(exc):
            raise
        return dg.DagsterInstance.from_ref(ref)


def instance_ref(root: DataRoot):
    """What `instance_for` opens: the home's dagster.yaml with two changes for in-process runs.

    Without capturing stdout/stderr: the default compute log manager starts a `tail -F` and an
    orphan-watching Python per stream and run, ~30 ms of CPU and four processes per execute_in_process,
    a dozen of which make one `smart-maintenance run`. The runs and their event logs still show in the
    UI; runs the daemon launches keep their captured logs (the instance's dagster.yaml).

    With Dagster's SQLite storage (the embedded instance), the same files through connections kept open
    (`defs/sqlite_storage.py`): a new connection per statement batch was a third of a micro-batch. Other
    storage (PostgreSQL from DAGSTER_HOME) is used as configured."""
    from dagster._core.instance.ref import InstanceRef

    from smart_maintenance.defs.sqlite_storage import pooled_in_place_of

    home = ensure_instance_home(root)
    overrides: dict = {"compute_logs": {"module": "dagster._core.storage.noop_compute_log_manager",
                                        "class": "NoOpComputeLogManager"}}  # fmt: skip
    if (pooled := pooled_in_place_of(InstanceRef.from_dir(str(home)).storage_data)) is not None:
        overrides["storage"] = pooled
    return InstanceRef.from_dir(str(home), overrides=overrides)


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
    with Pipeline(root, log_level) as pipeline:
        return pipeline.run(now=now, min_file_age_seconds=min_file_age_seconds, progress=progress)


def watch(root: DataRoot, *, stop: threading.Event, interval_seconds: float = 1.0, min_file_age_seconds: float = 2.0,
          report_every_seconds: float = REPORT_EVERY_SECONDS, log_level: str = "WARNING",
          progress: Callable[[str, bool, float], None] | None = None,
          on_batch: Callable[[RunSummary, float, float], None] | None = None, clock: Callable[[], float] = time.time) -> None:
    """A long-lived worker (`smart-maintenance run --watch`): a run as `run_once` does at start, then one
    for each batch of files that settles in landing/ (looked at every `interval_seconds`), until `stop`
    is set; the batch in progress finishes first. Definitions, instance and libraries stay loaded, so a
    small batch costs its own work, not a process start-up (issue 8). `on_batch(summary, wall_seconds,
    cpu_seconds)` is told of each batch as it ends. A batch that fails outside its steps (the instance
    database unreachable, say) is reported as a failed step and tried again after `RETRY_SECONDS`:
    nothing was taken from landing/ that is not in the lake or the ledger, and the worker keeps going.

    The day's report is refreshed at most every `report_every_seconds` (0: after every batch, as
    `run_once`): alerts, forecasts, requests, the schedule and notifications follow each batch, the
    report for plant managers follows on its own cadence (the daemon builds it once a day). A report
    left for later is built when its turn comes, with or without a new batch (a failed one is tried
    again at its next turn), and so is the report of the day before once the next day's batches start
    (`downstream_plan`). A report still waiting when the worker stops is built by its next start or
    by `run`. `clock`: Unix time."""
    from smart_maintenance.defs.ingestion.jobs import pending_files

    with Pipeline(root, log_level, report_every_seconds=report_every_seconds, clock=clock) as pipeline:
        due = True  # a first run at start, as `run_once`
        while not stop.is_set():
            wall, cpu, summary = time.perf_counter(), time.process_time(), None
            try:
                if due or pending_files(root, min_file_age_seconds):
                    summary = pipeline.run(min_file_age_seconds=min_file_age_seconds, progress=progress)
                elif pipeline.report_due():
                    summary = pipeline.refresh(progress=progress)  # None: built meanwhile
                due = False
            except Exception as exc:  # noqa: BLE001 - reported as the batch's failure; the worker goes on
                summary = RunSummary(progress=progress)
                reason = (str(exc).strip().splitlines() or [""])[0][:200]
                summary.add(f"batch: {type(exc).__name__}: {reason}", False, time.perf_counter() - wall)
                due = True
            if summary is not None and on_batch is not None:
                on_batch(summary, time.perf_counter() - wall, time.process_time() - cpu)
            stop.wait(max(interval_seconds, RETRY_SECONDS) if due else interval_seconds)


class Pipeline:
    """The Definitions and the Dagster instance of a data root, loaded once: `run_once` uses them for one
    batch, `watch` for every batch that lands while it runs (no process start-up or imports per batch)."""

    def __init__(self, root: DataRoot, log_level: str = "WARNING", report_every_seconds: float = 0.0,
                 clock: Callable[[], float] = time.time):
        from smart_maintenance.definitions import build_defs

        self.root = root
        self.report_every = report_every_seconds  # see `watch`; 0 for `run_once`: the report follows every run
        self.clock = clock  # Unix time, for the report's cadence
        self.report_waits_until: float | None = None  # when the first report left for later is due (`watch`)
        self.defs = build_defs(str(root.root))
        self.loggers = {"loggers": {"console": {"config": {"log_level": log_level}}}}
        # Entered first: resolving the Definitions reads the state storage the instance publishes on entry.
        self.instance = instance_for(root).__enter__()
        self.job = self.defs.resolve_implicit_global_asset_job_def()
        self._subsets: dict[tuple[frozenset, frozenset], dg.JobDefinition] = {}
        self.graph = self.defs.resolve_asset_graph()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.instance.__exit__(*exc)

    def run(self, *, now: str = "", min_file_age_seconds: float = 2.0,
            progress: Callable[[str, bool, float], None] | None = None) -> RunSummary:
        summary = RunSummary(progress=progress)
        if _reference_changed(self.root, self.instance):
            self._execute(summary, "reference data", set(REFERENCE_ASSETS))
        started = time.perf_counter()
        config = {"files": [], "min_file_age_seconds": min_file_age_seconds, "now": now}
        result = self.defs.resolve_job_def("ingest_landing").execute_in_process(
            run_config={"ops": {"ingest_landing_files": {"config": config}}, **self.loggers}, instance=self.instance,
            raise_on_error=False)
        # "+ scores, alerts" when the ingest run also detected (defs/detection/inline.py): alerts are done there.
        inline = any(m.asset_key == dg.AssetKey("alerts") for m in result.asset_materializations_for_node("ingest_landing_files"))
        summary.add("ingest landing files" + INLINE_SUFFIX * inline, result.success, time.perf_counter() - started)
        summary.files = _batch_files(self.root, result.run_id)
        self._refresh_downstream(summary)
        return summary

    def report_due(self) -> bool:
        """Whether a report left for later (`watch`) has come to its turn."""
        return self.report_waits_until is not None and self.clock() >= self.report_waits_until

    def refresh(self, progress: Callable[[str, bool, float], None] | None = None) -> RunSummary | None:
        """What is out of date downstream of the lake, without looking at landing/ (`watch`: a report
        whose turn came). None when nothing was (a `run` or the daemon built it meanwhile, say)."""
        summary = RunSummary(progress=progress)
        self._refresh_downstream(summary)
        return summary if summary.runs else None

    def _execute(self, summary: RunSummary, step: str, keys: set[str], ranges: list[tuple[str, str]] | None = None,
                 partition_key: str | None = None) -> tuple[set[str], set[str]]:
        """One run per range (one run if no ranges) materializing `keys` with their checks (not the drift
        check: it has its own cadence, below). Returns the keys materialized and the steps that failed."""
        from smart_maintenance.defs.detection.sensors import range_tags

        started, ok, done, failed = time.perf_counter(), True, set(), set()
        assets = {dg.AssetKey(k) for k in keys}
        checks = {c for c in self.graph.asset_check_keys if c.asset_key in assets and c != DRIFT_CHECK}
        subset = self._subset(frozenset(assets), frozenset(checks))
        for first, last in ranges if ranges is not None else [(None, None)]:
            result = subset.execute_in_process(instance=self.instance, tags=range_tags(first, last) if first else None,
                                               partition_key=partition_key, run_config=self.loggers, raise_on_error=False)
            ok = ok and result.success
            done |= {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
            failed |= {e.step_key for e in result.get_step_failure_events()}
        count = f" ({len(ranges)} range{'s' * (len(ranges) != 1)})" if ranges else ""
        summary.add(step + count, ok, time.perf_counter() - started)
        return done, failed

    def _subset(self, assets: frozenset[dg.AssetKey], checks: frozenset[dg.AssetCheckKey]) -> dg.JobDefinition:
        """The asset job of these assets and checks, kept: a new subset job costs ~7 ms of every run (its
        selection resolved, its snapshot serialised and hashed for the run record), and a worker runs the
        same few selections batch after batch."""
        key = (assets, checks)
        if key not in self._subsets:
            if len(self._subsets) >= SUBSETS_KEPT:
                self._subsets.clear()
            self._subsets[key] = self.job.get_subset(asset_selection=set(assets), asset_check_selection=set(checks))
        return self._subsets[key]

    def _refresh_downstream(self, summary: RunSummary) -> None:
        """Bring every asset downstream of the readings up to date, in dependency order, touching only the
        partitions whose inputs changed (the same rules the model sensor and the automation apply)."""
        from smart_maintenance.defs.detection.sensors import models_to_fit
        from smart_maintenance.detection.retraining import contiguous_ranges, days_to_score

        instance = self.instance
        if weeks := models_to_fit(instance, root=self.root):
            self._execute(summary, "detection models", {"detection_models"}, weeks)
        days = days_to_score(latest_ids(instance, "sensor_readings"), latest_ids(instance, "detection_models"),
                             latest_ids(instance, "anomaly_scores"))
        if days:
            self._execute(summary, "anomaly scores", {"anomaly_scores"}, contiguous_ranges(days))
        if stale(instance, "alerts", ["anomaly_scores", "maintenance_events", "equipment"]):
            self._execute(summary, "alerts", {"alerts"})
        plan, self.report_waits_until = _plan(instance, self.report_every, self.clock())
        if plan:
            start = len(summary.runs)
            self._run_plan(summary, plan)
            if (self.report_every > 0 and any(s.key == "daily_report" for s in plan)
                    and not all(ok for _, ok, _ in summary.runs[start:])):
                # The report, or a step before it, failed: tried again at the report's next turn.
                retry = self.clock() + self.report_every
                self.report_waits_until = min(retry, self.report_waits_until or retry)
        if _drift_due(instance, latest_ids(instance, "sensor_readings")):
            started = time.perf_counter()
            result = self.defs.resolve_job_def("drift_check").execute_in_process(
                instance=instance, run_config=self.loggers, raise_on_error=False)
            summary.add("drift check", result.success, time.perf_counter() - started)

    def _run_plan(self, summary: RunSummary, plan: list[Step]) -> None:
        """A micro-batch's usual plan (every partitioned step on the same one day): one Dagster run for all
        of it, not one per asset (each run costs ~0.1-0.2 s of run machinery). If that run fails, the steps
        it skipped (downstream of the failure) still run on their own, as they would have one by one.
        Other plans (a first load, a backfill: several days) run step by step."""
        days = {r for s in plan for r in (s.ranges or [])}
        if len(days) <= 1 and all(first == last for first, last in days):
            day = next(iter(days))[0] if days else None
            done, failed = self._execute(summary, " + ".join(s.name for s in plan), {s.key for s in plan},
                                         partition_key=day)
            plan = [s for s in plan if s.key not in done and s.key not in failed]  # skipped below a failure
        for s in plan:
            self._execute(summary, s.name, {s.key}, s.ranges)


@dataclass(frozen=True)
class Step:
    name: str  # as the summary and the progress lines show it
    key: str  # the asset
    ranges: list[tuple[str, str]] | None = None  # daily partition ranges; None: not partitioned


def downstream_plan(instance: dg.DagsterInstance, report_every_seconds: float = 0.0, now: float | None = None) -> list[Step]:
    """What to materialize after detection, in dependency order: RUL models when their inputs changed;
    health and forecasts for the latest days whose readings changed (the automation keeps the same window
    current; older days are backfilled on demand); maintenance requests, schedule and outbox when an
    input changed or is in the plan; the report of the latest day with readings, when anything it shows
    changed or is in the plan. With `report_every_seconds` (the worker, `watch`): that report, and the
    report before it when its day's readings changed after it was built (the day's last batches, or late
    data), each only when it was built at least `report_every_seconds` before `now` (or never)."""
    return _plan(instance, report_every_seconds, time.time() if now is None else now)[0]


def _plan(instance: dg.DagsterInstance, report_every: float, now: float) -> tuple[list[Step], float | None]:
    """`downstream_plan`, and when the first report left for later (out of date, its turn not come) is
    due; None when none waits."""
    from smart_maintenance.defs.forecasting.assets import AUTOMATIC_DAYS
    from smart_maintenance.defs.maintenance.assets import STEPS as MAINTENANCE_STEPS
    from smart_maintenance.detection.retraining import contiguous_ranges

    plan: list[Step] = []
    planned = lambda deps: any(s.key in deps for s in plan)  # noqa: E731
    if stale(instance, "rul_models", ["sensor_readings", "maintenance_events", "equipment", "sensors"]):
        plan.append(Step("RUL models", "rul_models"))
    readings = latest_ids(instance, "sensor_readings")
    for key, name in (("equipment_health", "equipment health"), ("failure_forecasts", "failure forecasts")):
        own = latest_ids(instance, key)
        if behind := [d for d in sorted(readings)[-AUTOMATIC_DAYS:] if own.get(d, -1) < readings[d]]:
            plan.append(Step(name, key, contiguous_ranges(behind)))
    for name, key, deps in MAINTENANCE_STEPS:
        if planned(deps) or stale(instance, key, deps):
            plan.append(Step(name, key))
    if not readings:
        return plan, None
    days, waits_until = _report_days(instance, readings, planned(REPORT_INPUTS), report_every, now)
    if days:
        plan.append(Step("daily report", "daily_report", [(d, d) for d in days]))
    return plan, waits_until


def _report_days(instance: dg.DagsterInstance, readings: dict[str, int], inputs_planned: bool, report_every: float,
                 now: float) -> tuple[list[str], float | None]:
    """The days whose report to build now (see `downstream_plan`), and when the first report left for
    later is due (None: none waits)."""
    built = latest_ids(instance, "daily_report")
    last_day = max(readings)
    changed = inputs_planned or any(latest_id(instance, k) > built.get(last_day, -1) for k in REPORT_INPUTS)
    if report_every <= 0:
        return ([last_day] if changed else []), None
    stale = [last_day] if changed else []
    before = max((d for d in built if d < last_day), default=None)  # the report before the latest day's
    if before is not None and readings.get(before, -1) > built[before]:
        stale.insert(0, before)  # its day's last batches (or late data) came after it
    days, due = [], []
    for day in stale:
        at = materialized_at(instance, "daily_report", day) if day in built else None
        if at is None or now >= at + report_every:
            days.append(day)
        else:
            due.append(at + report_every)
    return days, min(due, default=None)


REPORT_INPUTS = ("sensor_readings", "anomaly_scores", "alerts", "failure_forecasts", "ingested_files",
                 "maintenance_requests", "technician_schedule")


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


REFERENCE_ASSETS = ("equipment", "sensors", "technicians")
RETRY_SECONDS = 5.0  # `watch`: after a batch failed outside its steps
SUBSETS_KEPT = 32  # `Pipeline._subset`: the asset jobs of this many selections (a plan's steps, together or alone)
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
