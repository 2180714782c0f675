"""Reports: the daily report asset (one HTML + JSON per UTC day) and the on-demand report job for any
date range. The numbers and the HTML come from `smart_maintenance.reporting`; this shell gathers the
run history the performance section needs, writes the files and shows the key numbers in the UI."""

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from smart_maintenance import storage
from smart_maintenance.defs.metadata import OWNERS, markdown_table
from smart_maintenance.defs.partitions import daily
from smart_maintenance.defs.resources import DataRootResource
from smart_maintenance.reporting import Report, build_report, key_numbers, write_report
from smart_maintenance.reporting.png import alerts_png, markdown_image
from smart_maintenance.reporting.summary import default_window

GROUP = "reporting"
DAILY_CRON = "30 0 * * *"  # 00:30 UTC: yesterday is complete (give or take late files) and reported
ADHOC_DEFAULT_DAYS = 7


def runs_frame(instance: dg.DagsterInstance, begin: datetime, end: datetime) -> pd.DataFrame:
    """Finished runs created in [begin, end) with their durations, and for ingest runs the time spent
    ingesting (the `seconds` the ingest job reports on `ingested_files`), for throughput."""
    records = instance.get_run_records(dg.RunsFilter(created_after=begin, created_before=end), limit=5000)
    rows = [{"run_id": r.dagster_run.run_id, "job": _job_label(r.dagster_run), "status": r.dagster_run.status.value,
             "started_at": pd.Timestamp(r.start_time, unit="s", tz="UTC"),
             "ended_at": pd.Timestamp(r.end_time, unit="s", tz="UTC")}
            for r in records if r.start_time and r.end_time]
    runs = pd.DataFrame(rows, columns=["run_id", "job", "status", "started_at", "ended_at"])
    materializations = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("ingested_files"), after_timestamp=begin.timestamp(),
                              before_timestamp=end.timestamp()), limit=5000).records
    seconds = {}
    for record in materializations:
        value = (record.asset_materialization.metadata or {}).get("seconds") if record.asset_materialization else None
        if value is not None:
            seconds[record.run_id] = float(getattr(value, "value", value))
    return runs.assign(ingest_seconds=runs["run_id"].map(seconds))


def _job_label(run: dg.DagsterRun) -> str:
    """The job name, or for Dagster's implicit asset jobs the assets the run materialized."""
    if not run.job_name.startswith("__"):
        return run.job_name
    keys = sorted(k.to_user_string() for k in (run.asset_selection or ()))
    return "assets: " + ", ".join(keys) if keys else run.job_name


def report_metadata(report: Report, html: Path, json_path: Path) -> dict:
    numbers = {k: (v if v is not None else dg.MetadataValue.null()) for k, v in key_numbers(report.summary).items()}
    fleet = [{k: e[k] for k in ("equipment_id", "status", "alerts", "credible_alerts", "anomaly_rate")}
             for e in report.summary["fleet"]["equipment"]]
    return {
        "html": dg.MetadataValue.path(str(html)),
        "json": dg.MetadataValue.path(str(json_path)),
        "open_report": dg.MetadataValue.url(str(html) if storage.is_remote(html) else html.resolve().as_uri()),
        "window": f"{report.summary['report']['start']} .. {report.summary['report']['end']}",
        **numbers,
        "alerts_chart": dg.MetadataValue.md(markdown_image(alerts_png(report.summary), "alerts by validation status")),
        "fleet": markdown_table(fleet, limit=30),
        "sections_without_data": ", ".join(k for k, v in report.summary["datasets"].items() if not v) or "none",
    }


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dg.asset(
    partitions_def=daily,
    deps=["sensor_readings", "anomaly_scores", "alerts", "ingested_files", "quarantine", "maintenance_events",
          "failure_forecasts", "equipment_health", "maintenance_requests", "technician_schedule", "decisions"],
    group_name=GROUP,
    kinds={"plotly", "duckdb", "html"},
    owners=OWNERS,
    metadata={"path": "reports/daily/<date>.html and .json"},
)
def daily_report(context: dg.AssetExecutionContext, data_root: DataRootResource) -> dg.MaterializeResult:
    """The day's report for plant managers: fleet health and risk, anomalies (alerts by severity and
    validation status, top sensors, false-positive rate), maintenance (requests, overdue, MTTR, technician
    schedule), forecasts, data quality and pipeline performance. One self-contained HTML file (plotly
    embedded, no internet needed) and a JSON summary with the same numbers, under `reports/daily/`."""
    root, now = data_root.get(), _now()
    window = context.partition_time_window
    day, last = window.start.date(), (window.end - timedelta(days=1)).date()
    runs = runs_frame(context.instance, window.start - timedelta(days=1), min(window.end, now) + timedelta(hours=1))
    written = []
    while day <= last:  # one report per day, whether one partition or a range is materialized
        report = build_report(root.lake, day, day, now, runs)
        html, json_path = write_report(report, root.reports / "daily", day.isoformat())
        written.append((report, html, json_path))
        day += timedelta(days=1)
    report, html, json_path = written[-1]
    context.log.info(f"Report written to {html}")
    return dg.MaterializeResult(metadata={**report_metadata(report, html, json_path), "days_written": len(written)})


daily_report_job = dg.define_asset_job(
    "daily_report_job", selection=[daily_report], partitions_def=daily,
    description="Build the daily report of one day (the schedule runs it for yesterday at 00:30 UTC).")


@dg.schedule(job=daily_report_job, cron_schedule=DAILY_CRON, execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="At 00:30 UTC, the report of the day that just ended.")
def daily_report_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    # `daily` has end_offset=1 (today is a partition), so "the latest partition" would be today: ask for
    # yesterday explicitly.
    day = (context.scheduled_execution_time.astimezone(timezone.utc) - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)


class ReportConfig(dg.Config):
    start: str = Field(default="", description="First UTC day of the report, YYYY-MM-DD. Empty: 6 days before `end` "
                                               "(a week).")
    end: str = Field(default="", description="Last UTC day of the report (included), YYYY-MM-DD. Empty: the last day "
                                             "with readings.")


def _day(text: str, name: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise dg.Failure(f"`{name}` must be a date like 2026-03-01, got {text!r}") from exc


@dg.op(description="Build the report of a date range into reports/adhoc/<start>_<end>.html and .json.")
def build_adhoc_report(context: dg.OpExecutionContext, config: ReportConfig, data_root: DataRootResource) -> dg.Output[str]:
    root, now = data_root.get(), _now()
    start, end = _day(config.start, "start"), _day(config.end, "end")
    if start and end and start > end:
        raise dg.Failure(f"start {start} is after end {end}")
    window = default_window(root.lake, start, end, now, ADHOC_DEFAULT_DAYS)
    runs = runs_frame(context.instance, datetime.combine(window.start, datetime.min.time(), timezone.utc) - timedelta(days=1),
                      min(window.stop.to_pydatetime(), now) + timedelta(hours=1))
    report = build_report(root.lake, window.start, window.end, now, runs)
    html, json_path = write_report(report, root.reports / "adhoc", f"{window.start}_{window.end}")
    context.log.info(f"Report written to {html}")
    return dg.Output(str(html), metadata=report_metadata(report, html, json_path))


@dg.job(name="report_job", description="An on-demand report for any date range (launchpad: `start`, `end`).")
def report_job():
    build_adhoc_report()


ASSETS = [daily_report]
JOBS = [daily_report_job, report_job]
SCHEDULES = [daily_report_schedule]
