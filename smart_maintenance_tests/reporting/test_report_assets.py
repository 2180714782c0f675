"""The Dagster shell of the reports: the daily asset, the on-demand job and the daily schedule, on the
synthetic plant after a real `run_once` (so run history exists for the performance section)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import dagster as dg

from smart_maintenance.defs.reporting.assets import ASSETS, daily_report_schedule, report_job
from smart_maintenance.defs.resources import DataRootResource
from smart_maintenance.runner import instance_for

DAY = "2026-01-24"  # the plant's last full day


def test_daily_report_materializes_both_files_with_metadata(plant_root):
    with instance_for(plant_root) as instance:
        result = dg.materialize(ASSETS, partition_key=DAY, instance=instance,
                                resources={"data_root": DataRootResource(home=str(plant_root.root))})
    assert result.success
    html, js = plant_root.reports / "daily" / f"{DAY}.html", plant_root.reports / "daily" / f"{DAY}.json"
    assert html.stat().st_size > 3_000_000 and "<script src=" not in html.read_text()
    summary = json.loads(js.read_text())
    assert summary["report"]["start"] == summary["report"]["end"] == DAY
    assert summary["data_quality"]["readings_in_window"] > 1000
    (materialization,) = result.asset_materializations_for_node("daily_report")
    meta = materialization.metadata
    assert meta["html"].value == str(html) and meta["open_report"].value == html.resolve().as_uri()
    assert meta["readings"].value == summary["data_quality"]["readings_in_window"]
    assert meta["alerts"].value == summary["anomalies"]["alerts"]
    assert meta["alerts_chart"].value.startswith("![alerts by validation status](data:image/png;base64,iVBOR")
    absent = [d for d, present in summary["datasets"].items() if not present]
    assert meta["sections_without_data"].value == (", ".join(absent) or "none")
    assert summary["datasets"]["alerts"] and summary["datasets"]["anomaly_scores"]


def test_report_job_builds_any_range_from_its_launchpad_config(plant_root):
    # The job itself, with its resource bound here: resolving it through a Definitions object would tie
    # it to whatever Dagster instance an earlier test left as the load context.
    job = report_job
    resources = {"data_root": DataRootResource(home=str(plant_root.root))}
    fields = job.run_config_schema.config_type.fields["ops"].config_type.fields["build_adhoc_report"].config_type.fields
    config = fields["config"].config_type.fields
    assert set(config) == {"start", "end"} and all(config[k].description for k in config)
    with instance_for(plant_root) as instance:
        result = job.execute_in_process(instance=instance, resources=resources, run_config={
            "ops": {"build_adhoc_report": {"config": {"start": "2026-01-20", "end": "2026-01-24"}}}})
        assert result.success
        path = plant_root.reports / "adhoc" / "2026-01-20_2026-01-24.html"
        assert result.output_for_node("build_adhoc_report") == str(path) and path.exists()
        summary = json.loads(path.with_suffix(".json").read_text())
        assert summary["report"]["days"] == 5 and summary["report"]["bucket"] == "day"
        # Run history came from the instance: the ingest run of `run_once` has a throughput.
        bad = job.execute_in_process(instance=instance, resources=resources, raise_on_error=False, run_config={
            "ops": {"build_adhoc_report": {"config": {"start": "yesterday"}}}})
        assert not bad.success


def test_schedule_asks_for_yesterday():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc))
    request = daily_report_schedule(context)
    assert (request.partition_key, request.run_key) == ("2026-03-01", "2026-03-01")
    assert daily_report_schedule.cron_schedule == "30 0 * * *"
    assert daily_report_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
