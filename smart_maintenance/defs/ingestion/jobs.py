"""The ingest job: one batch of landing files into the lake, reported as asset materializations.

The landing sensor hands it the files it saw settle; the micro-batch schedule and the one-shot
command hand it nothing, and it takes whatever is pending and old enough. Either way the same code
runs and a file's content is ingested once.
"""


import time
import traceback
from collections import Counter
from datetime import datetime, timezone

import dagster as dg
from pydantic import Field

from smart_maintenance import lake
from smart_maintenance.config import DataRoot
from smart_maintenance.defs.detection.resources import DetectionResource
from smart_maintenance.defs.ingestion.checks import FRESHNESS_HOURS, to_evaluation
from smart_maintenance.defs.metadata import markdown_table
from smart_maintenance.defs.resources import DataRootResource, IngestSettingsResource
from smart_maintenance.ingest import quality
from smart_maintenance.ingest.batch import BatchResult, ingest_batch
from smart_maintenance.ingest.landing import is_stable, list_landing
from smart_maintenance.reference import read_reference


class IngestConfig(dg.Config):
    files: list[str] = Field(default_factory=list,
                             description="Landing files to ingest, relative to landing/. Empty: every pending file old enough.")
    min_file_age_seconds: float = Field(default=30.0,
                                        description="With no file list, pending files changed more recently than this wait "
                                                    "for the next batch (they may still be being written).")
    now: str = Field(default="", description="ISO time taken as 'now' (future-timestamp rule). Empty: the wall clock.")
    detect: bool = Field(default=True,
                         description="Also score the batch's days and refresh the alerts in this run when their weekly "
                                     "models are current (one run per micro-batch). Off: the automation does it.")


def pending_files(root: DataRoot, min_age_seconds: float, now_ns: int | None = None) -> list[str]:
    now_ns = time.time_ns() if now_ns is None else now_ns
    return [f.relpath for f in list_landing(root.landing) if is_stable(f, None, now_ns, 0, min_age_seconds)]


# A failed attempt leaves the lake consistent (atomic partition writes, per-content locks, ledger before
# archive), so retrying a transient failure (a locked instance database, a storage hiccup) is safe.
@dg.op(description="Read, validate and merge a batch of landing files into the lake; archive or reject each file.",
       retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL))
def ingest_landing_files(context: dg.OpExecutionContext, config: IngestConfig, data_root: DataRootResource,
                         ingest_settings: IngestSettingsResource, detection: DetectionResource) -> None:
    root = data_root.get()
    now = datetime.fromisoformat(config.now) if config.now else datetime.now(timezone.utc)
    for event in reannouncements(root, context.instance, context.run_id):
        context.log_event(event)
    files = config.files or pending_files(root, config.min_file_age_seconds)
    if not files:
        context.log.info("No pending files in landing/.")
        return
    started = time.perf_counter()
    result = ingest_batch(root, files, now=now, batch_id=context.run_id, settings=ingest_settings.settings(),
                          run_id=context.run_id)
    elapsed = time.perf_counter() - started
    events = batch_events(root, result, now, elapsed)
    if config.detect:
        events += inline_detection(context, root, result, detection)
    # Materializations first, in dependency order, then the check evaluations: logged back to back, so an
    # automation tick sees the batch's readings and the results computed from them updated together.
    for event in sorted(events, key=lambda e: isinstance(e, dg.AssetCheckEvaluation)):
        context.log_event(event)
    for f in result.files:
        if f.status == "rejected":
            context.log.warning(f"Rejected {f.source_file}: {f.reason}")
    context.log.info(summary_line(result))


def inline_detection(context: dg.OpExecutionContext, root: DataRoot, result: BatchResult,
                     detection: DetectionResource) -> list:
    """Events of scoring the batch's days and refreshing the alerts in this run (defs/detection/inline.py).
    An error here loses nothing: it is logged, and the automation does the work from the batch's
    materializations, as it does for days this run leaves alone."""
    from smart_maintenance.defs.detection.inline import days_to_score_inline, detect_inline

    try:
        days = days_to_score_inline(context.instance, root, result.partitions, result.kinds)
        if not days:
            return []
        started = time.perf_counter()
        events = detect_inline(root, detection.config(), days)
        context.log.info(f"Scored {len(days)} day(s) and refreshed the alerts in {time.perf_counter() - started:.2f} s.")
        return events
    except Exception:  # noqa: BLE001 - an optimisation: its failure must not fail the batch
        context.log.warning("Inline detection failed; the automation will score the batch:\n" + traceback.format_exc())
        return []


REANNOUNCE_BATCHES = 500  # the most recent batches are the ones a crash can have left unannounced


def reannouncements(root: DataRoot, instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetMaterialization]:
    """Materializations for the partitions of recent batches whose run did not succeed.

    A batch writes the lake, then the ledger, then moves its files; Dagster records the materializations
    when the run's step ends. If the run dies in between (kill -9, the instance database down), the lake
    holds partitions Dagster never heard of, and nothing downstream would ever score them: the next
    ingest run announces them again (idempotent: a materialization of an unchanged partition only
    makes downstream recompute it)."""
    if not lake.has_data(root.lake, "ingested_files"):
        return []
    con = lake.connect()
    rows = con.execute(
        f"""SELECT run_id, max(ingested_at) AS written_at, list_distinct(flatten(list(partitions))) AS parts
            FROM {lake.scan_sql(root.lake, 'ingested_files')}
            WHERE status = 'ingested' AND kind LIKE 'readings%' AND run_id IS NOT NULL AND run_id <> ?
            GROUP BY run_id ORDER BY written_at DESC LIMIT {REANNOUNCE_BATCHES}""", [run_id]).fetchall()
    succeeded = {r.run_id for r in instance.get_runs(dg.RunsFilter(run_ids=[r[0] for r in rows],
                                                                   statuses=[dg.DagsterRunStatus.SUCCESS]))} if rows else set()
    partitions: set[str] = set()
    for batch_run, _, parts in rows:
        if batch_run in succeeded:
            continue  # its materializations were stored with it
        # Failed, canceled, or still "started" because it died with the database down: look at what Dagster
        # recorded. (A batch of a concurrent run still finishing may be announced twice: harmless.)
        for p in parts:
            path = lake.partition_file(root.lake, "sensor_readings", "date", p)
            if path is None:
                continue
            latest = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("sensor_readings"), asset_partitions=[p]), limit=1).records
            if not latest or latest[0].timestamp < path.stat().st_mtime:  # the lake changed after Dagster last heard
                partitions.add(p)
    return [dg.AssetMaterialization("sensor_readings", partition=p, metadata={"reannounced": True,
            "why": "the batch that wrote it ended without its run succeeding"}) for p in sorted(partitions)]


def summary_line(result: BatchResult) -> str:
    return (f"{len(result.files)} files: {result.count('ingested')} ingested, {result.count('duplicate_file')} duplicate, "
            f"{result.count('rejected')} rejected; rows read {result.total('rows_read')}, kept {result.total('rows_kept')}, "
            f"quarantined {result.total('rows_quarantined')}, duplicates {result.total('rows_duplicate')}; "
            f"{len(result.partitions)} partitions")


def batch_events(root: DataRoot, result: BatchResult, now: datetime, elapsed: float) -> list:
    """Materializations and check evaluations describing one batch."""
    events: list = []
    files_by_partition = Counter(p for f in result.files for p in f.partitions if f.kind and f.kind.startswith("readings"))
    for partition in result.partitions:
        path = lake.partition_file(root.lake, "sensor_readings", "date", partition)
        rows = lake.parquet_file(path).metadata.num_rows if path else 0
        events.append(dg.AssetMaterialization("sensor_readings", partition=partition,
                                              metadata={"dagster/row_count": rows, "files_in_batch": files_by_partition[partition]}))
    ingested = [f for f in result.files if f.status == "ingested"]
    if any(f.rows_quarantined for f in ingested):
        reasons = Counter()
        if lake.has_data(root.lake, "quarantine"):
            shas = ", ".join(f"'{f.sha256}'" for f in ingested if f.rows_quarantined)
            con = lake.connect()
            reasons.update(dict(con.execute(
                f"SELECT reason, count(*) FROM {lake.scan_sql(root.lake, 'quarantine')} WHERE file_sha256 IN ({shas}) GROUP BY ALL"
            ).fetchall()))
        events.append(dg.AssetMaterialization("quarantine", metadata={
            "rows_quarantined": result.total("rows_quarantined"),
            "by_reason": markdown_table([{"reason": r, "rows": n} for r, n in reasons.most_common()]),
        }))
    for kind in ("maintenance_events", "decisions"):
        if kind in result.kinds:
            events.append(dg.AssetMaterialization(kind, metadata={
                "rows_kept": sum(f.rows_kept for f in ingested if f.kind == kind)}))
    readings_read = sum(f.rows_read for f in ingested if f.kind and f.kind.startswith("readings"))
    events.append(dg.AssetMaterialization("ingested_files", metadata={
        "files": len(result.files),
        "files_ingested": result.count("ingested"),
        "files_duplicate": result.count("duplicate_file"),
        "files_rejected": result.count("rejected"),
        "rows_read": result.total("rows_read"),
        "rows_kept": result.total("rows_kept"),
        "rows_quarantined": result.total("rows_quarantined"),
        "rows_duplicate": result.total("rows_duplicate"),
        "rows_replaced": result.total("rows_replaced"),
        "partitions_touched": len(result.partitions),
        "seconds": round(elapsed, 3),
        "readings_per_second": round(readings_read / elapsed) if elapsed > 0 else 0,
        "batch": markdown_table([
            {"file": f.source_file, "status": f.status, "kind": f.kind, "read": f.rows_read, "kept": f.rows_kept,
             "quarantined": f.rows_quarantined, "duplicate": f.rows_duplicate, "reason": f.reason or ""}
            for f in result.files]),
    }))
    dates, shas = result.partitions, [f.sha256 for f in ingested]
    events.append(to_evaluation("ingested_files", "rows_conserved", quality.rows_conserved(root.lake, shas, dates)))
    if dates:
        events.append(to_evaluation("sensor_readings", "readings_schema", quality.schema_matches(root.lake, dates)))
        events.append(to_evaluation("sensor_readings", "readings_keys_unique", quality.keys_unique(root.lake, dates)))
        events.append(to_evaluation("sensor_readings", "readings_values_in_range",
                                    quality.values_in_range(root.lake, read_reference(root.reference, "sensors"), dates)))
        events.append(to_evaluation("sensor_readings", "readings_fresh", quality.fresh(root.lake, now, FRESHNESS_HOURS),
                                    dg.AssetCheckSeverity.WARN))
    return events


@dg.job(name="ingest_landing", description="Ingest a batch of landing files into the lake (sensor_readings and friends).",
        tags={"smart_maintenance/stage": "ingest"})
def ingest_landing_job():
    ingest_landing_files()
