"""The runner's micro-batch path (issue 8): everything downstream of a micro-batch in one Dagster run with
the same results as one run per asset, what a failure in it skips still done, and `run --watch`, the
long-lived worker, taking each file that lands through the whole pipeline."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg

from smart_maintenance import lake
from smart_maintenance.benchmarking.pipeline import END, continuation, smart_maintenance_cmd
from smart_maintenance.config import DataRoot
from smart_maintenance.runner import INLINE_SUFFIX, Pipeline, RunSummary, Step, downstream_plan, run_once, watch
from smart_maintenance_tests.defs.conftest import N_EQUIPMENT, dataset

DOWNSTREAM = ["rul_models", "equipment_health", "failure_forecasts", "maintenance_requests", "technician_schedule",
              "notification_outbox", "daily_report"]
DATASETS = ["equipment_health", "failure_forecasts", "maintenance_requests", "technician_schedule", "notification_outbox"]
EVERY = 10**9  # a report cadence no test outlives: the scored plant's report, built before, always waits


def copy(plant: Path, to: Path) -> DataRoot:
    shutil.copytree(plant, to)
    return DataRoot(to).ensure()


def report_json(root: DataRoot) -> dict:
    """The latest day's report without what differs between any two builds (run history, build time)."""
    summary = json.loads((root.reports / "daily" / f"{END.date().isoformat()}.json").read_text())
    summary.pop("performance")
    summary["report"].pop("generated_at")
    return summary


def runs_after(instance: dg.DagsterInstance, count: int) -> list[dg.DagsterRun]:
    return [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(), limit=count)]


def test_a_micro_batch_refreshes_what_depends_on_it_in_one_run(scored_plant, tmp_path):
    one_run, per_asset = copy(scored_plant, tmp_path / "one"), copy(scored_plant, tmp_path / "per-asset")

    summary = run_once(one_run, min_file_age_seconds=0)
    assert summary.success, summary.runs
    steps = [step for step, _, _ in summary.runs]
    assert steps[0] == "ingest landing files" + INLINE_SUFFIX
    assert steps[1:] == ["RUL models + equipment health + failure forecasts + maintenance requests + technician schedule "
                         "+ notifications + daily report"]

    with Pipeline(one_run) as pipeline:
        downstream, ingest = runs_after(pipeline.instance, 2)
        assert ingest.job_name == "ingest_landing"
        events = pipeline.instance.get_records_for_run(downstream.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        done = {(e.event_log_entry.dagster_event.asset_key.to_user_string(), e.event_log_entry.dagster_event.partition)
                for e in events}
    day = END.date().isoformat()
    assert done == {("rul_models", None), ("equipment_health", day), ("failure_forecasts", day), ("maintenance_requests", None),
                    ("technician_schedule", None), ("notification_outbox", None), ("daily_report", day)}

    # The same plan, one run per asset (as before): the same rows in every dataset and the same report.
    with Pipeline(per_asset) as pipeline:
        pipeline.defs.resolve_job_def("ingest_landing").execute_in_process(
            instance=pipeline.instance, run_config={"ops": {"ingest_landing_files": {"config": {"min_file_age_seconds": 0}}}})
        plan = downstream_plan(pipeline.instance)
        assert [s.key for s in plan] == DOWNSTREAM
        for step in plan:
            pipeline._execute(RunSummary(), step.name, {step.key}, step.ranges)
    for name in DATASETS:
        one, per = dataset(one_run, name), dataset(per_asset, name)
        assert len(one) > 0 or name not in ("equipment_health", "failure_forecasts"), name  # (3 machines: no requests)
        assert one.equals(per), name
    assert report_json(one_run) == report_json(per_asset)

    # Nothing new: nothing downstream runs again.
    assert [step for step, _, _ in run_once(one_run, min_file_age_seconds=0).runs] == ["ingest landing files"]


def test_what_a_failure_in_the_one_run_skips_still_runs_on_its_own(scored_plant, tmp_path):
    root = copy(scored_plant, tmp_path / "plant")
    day = END.date().isoformat()
    blocked = root.lake / "failure_forecasts" / f"date={day}"
    shutil.rmtree(blocked, ignore_errors=True)
    blocked.write_text("not a folder: writing the day's forecasts fails")

    summary = run_once(root, min_file_age_seconds=0)

    outcome = {step: ok for step, ok, _ in summary.runs}
    together = [step for step in outcome if step.startswith("RUL models + ")]
    assert len(together) == 1 and outcome[together[0]] is False and not summary.success
    # Downstream of the failed forecasts, skipped in that run, then run on their own.
    alone = ("maintenance requests", "technician schedule", "notifications", "daily report (1 range)")
    assert {step: outcome.get(step) for step in alone} == dict.fromkeys(alone, True)
    assert not [step for step in outcome if step.startswith("failure forecasts")]  # the failed step is not retried
    assert (root.reports / "daily" / f"{day}.json").exists()


def test_the_worker_refreshes_each_days_report_on_its_cadence(scored_plant, tmp_path):
    root = copy(scored_plant, tmp_path / "plant")
    day, next_day = END.date().isoformat(), (END + timedelta(days=1)).date().isoformat()
    report = root.reports / "daily" / f"{day}.json"
    newest = lambda path: json.loads(path.read_text())["data_quality"]["newest_reading_at"]  # noqa: E731
    before = report.read_bytes()
    clock = [time.time()]
    with Pipeline(root, report_every_seconds=EVERY, clock=lambda: clock[0]) as pipeline:
        # next.csv (the same day): everything but the report follows; the report, built before, waits its turn.
        summary = pipeline.run(min_file_age_seconds=0)
        assert summary.success, summary.runs
        assert summary.runs[-1][0] == ("RUL models + equipment health + failure forecasts + maintenance requests "
                                       "+ technician schedule + notifications")
        assert report.read_bytes() == before
        due = pipeline.report_waits_until
        assert due is not None and clock[0] < due
        assert downstream_plan(pipeline.instance) == [Step("daily report", "daily_report", [(day, day)])]  # it is out of date
        assert downstream_plan(pipeline.instance, EVERY, now=due - 1) == []

        # Its turn, without a new batch (as `watch` does when landing/ is quiet): the report alone.
        clock[0] = due
        summary = pipeline.refresh()
        assert [step for step, ok, _ in summary.runs if ok] == ["daily report"] and summary.success
        assert newest(report) == "2026-02-02T01:00:00+00:00" and pipeline.report_waits_until is None
        assert pipeline.refresh() is None  # nothing left to do

        # More of the same day, then the next day's first batch: the new day's report at once (never built),
        # the day before's at its turn, then with its last batches.
        continuation(root.root, "later.csv", 30, N_EQUIPMENT, END + timedelta(minutes=60), tmp_path)
        assert pipeline.run(min_file_age_seconds=0).success
        assert newest(report) == "2026-02-02T01:00:00+00:00"  # waiting
        continuation(root.root, "tomorrow.csv", 30, N_EQUIPMENT, END + timedelta(days=1), tmp_path)
        summary = pipeline.run(min_file_age_seconds=0)
        assert summary.success, summary.runs
        assert [step for step, _, _ in summary.runs if "daily report" in step][0].endswith("notifications + daily report")
        assert newest(root.reports / "daily" / f"{next_day}.json") == "2026-02-03T00:30:00+00:00"
        assert newest(report) == "2026-02-02T01:00:00+00:00" and pipeline.report_waits_until is not None
        clock[0] = pipeline.report_waits_until
        assert [step for step, ok, _ in pipeline.refresh().runs if ok] == ["daily report"]
        assert newest(report) == "2026-02-02T01:30:00+00:00"
        assert downstream_plan(pipeline.instance) == []


def test_a_report_that_fails_at_its_turn_is_tried_again_at_the_next(scored_plant, tmp_path):
    root = copy(scored_plant, tmp_path / "plant")
    daily, aside = root.reports / "daily", tmp_path / "daily"
    clock = [time.time()]
    with Pipeline(root, report_every_seconds=EVERY, clock=lambda: clock[0]) as pipeline:
        assert pipeline.run(min_file_age_seconds=0).success  # next.csv: the report waits
        clock[0] = pipeline.report_waits_until
        shutil.move(daily, aside)
        daily.write_text("not a folder: writing the report fails")
        summary = pipeline.refresh()
        assert [(step, ok) for step, ok, _ in summary.runs] == [("daily report", False)]
        assert pipeline.report_waits_until == clock[0] + EVERY  # not forgotten: its next turn
        daily.unlink()
        shutil.move(aside, daily)
        clock[0] = pipeline.report_waits_until
        assert [(step, ok) for step, ok, _ in pipeline.refresh().runs] == [("daily report", True)]
        assert pipeline.report_waits_until is None and downstream_plan(pipeline.instance) == []


def test_run_watch_builds_a_waiting_report_when_its_turn_comes_without_a_new_batch(scored_plant, tmp_path):
    root = copy(scored_plant, tmp_path / "plant")
    report = root.reports / "daily" / f"{END.date().isoformat()}.json"
    before = report.read_bytes()
    clock, batches, stop = [time.time()], [], threading.Event()
    worker = threading.Thread(target=watch, args=(root,), kwargs={
        "stop": stop, "interval_seconds": 0.1, "min_file_age_seconds": 0, "report_every_seconds": EVERY,
        "clock": lambda: clock[0], "on_batch": lambda summary, *_: batches.append(summary)})
    worker.start()
    try:
        wait_for(lambda: len(batches) >= 1)  # next.csv, pending at start: its report waits
        assert batches[0].success and not any("daily report" in step for step, _, _ in batches[0].runs)
        time.sleep(0.5)
        assert len(batches) == 1 and report.read_bytes() == before  # landing/ quiet, the report's turn not come
        clock[0] += EVERY
        wait_for(lambda: len(batches) >= 2)
        time.sleep(0.5)
        assert len(batches) == 2  # built once: no empty batches after it
    finally:
        stop.set()
        worker.join(timeout=120)
    assert not worker.is_alive()
    assert [step for step, ok, _ in batches[1].runs if ok] == ["daily report"]
    assert json.loads(report.read_text())["data_quality"]["newest_reading_at"] == "2026-02-02T01:00:00+00:00"


def wait_for(condition, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_run_watch_takes_each_file_that_lands_through_the_pipeline(scored_plant, tmp_path):
    root = copy(scored_plant, tmp_path / "plant")
    pending, later = root.landing / "next.csv", tmp_path / "next.csv"
    shutil.move(pending, later)  # the worker starts with nothing pending; the file lands while it runs
    with watching(root, tmp_path, "--report-every", "0") as worker:  # the report after every batch, as `run`'s
        worker.wait_for_batches(1)
        os.replace(later, pending)
        worker.wait_for_batches(2)
        continuation(root.root, "third.csv", 30, N_EQUIPMENT, END + timedelta(minutes=60), tmp_path)
        worker.wait_for_batches(3)
    assert worker.process.returncode == 0, worker.out
    assert "done ingest landing files" + INLINE_SUFFIX in worker.err()
    assert worker.out.count("files: 1 ingested") == 2
    assert {("next.csv", "ingested"), ("third.csv", "ingested")} <= ledger(root)
    with Pipeline(root) as pipeline:
        alerts = pipeline.instance.fetch_materializations(dg.AssetKey("alerts"), limit=1).records[0]
        run = pipeline.instance.get_run_by_id(alerts.run_id)
        assert run.job_name == "ingest_landing"  # the last file's alerts came from its own ingest run
        assert downstream_plan(pipeline.instance) == []  # and everything after it is current


def test_run_watch_reports_a_failed_batch_and_goes_on(scored_plant, tmp_path):
    root = copy(scored_plant, tmp_path / "plant")
    pending, later = root.landing / "next.csv", tmp_path / "next.csv"
    shutil.move(pending, later)
    runs_db = root.dagster_home / "history" / "runs.db"
    aside = runs_db.with_name("runs.db.aside")
    with watching(root, tmp_path) as worker:
        worker.wait_for_batches(1)
        # The instance's run database breaks while a file lands: that batch fails, the worker goes on.
        os.replace(runs_db, aside)
        runs_db.write_bytes(b"not a database " * 1000)
        os.replace(later, pending)
        worker.wait_for_batches(2)
        os.replace(aside, runs_db)  # repaired: the next try takes the file
        worker.wait_for_batches(3)
    assert worker.process.returncode == 0, worker.out
    batches = [line for line in worker.err().splitlines() if "batch done in" in line]
    assert "FAILED" in batches[1] and "FAILED" not in batches[2]
    assert "FAIL batch: DatabaseError" in worker.out
    assert ("next.csv", "ingested") in ledger(root) and not list(root.landing.glob("*.csv"))


def ledger(root: DataRoot) -> set[tuple[str, str]]:
    return set(lake.connect().sql(f"SELECT source_file, status FROM {lake.scan_sql(root.lake, 'ingested_files')}").fetchall())


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path  # its stderr: progress and `batch done` lines
    out: str = ""  # its stdout (the batch summaries), once it stopped

    def err(self) -> str:
        return self.log.read_text()

    def wait_for_batches(self, count: int, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.err().count("batch done in") < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no batch {count} within {timeout_s} s:\n{self.err()[-3000:]}")
            time.sleep(0.2)


@contextlib.contextmanager
def watching(root: DataRoot, tmp_path: Path, *options: str) -> Iterator[Worker]:
    """`smart-maintenance run --watch [options]` on `root` as its own process; SIGTERM on the way out."""
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "SMART_MAINTENANCE_HOME")}
    log = tmp_path / "watch.err"
    with log.open("w") as err:  # the child keeps its own copy of the file
        process = subprocess.Popen(smart_maintenance_cmd() + ["run", "--home", str(root.root), "--watch", "--min-file-age", "0",
                                                              "--interval", "0.2", *options],
                                   stdout=subprocess.PIPE, stderr=err, text=True, env={**env, "PYTHONWARNINGS": "ignore"},
                                   start_new_session=True)
    worker = Worker(process, log)
    try:
        yield worker
    finally:
        process.send_signal(signal.SIGTERM)
        worker.out, _ = process.communicate(timeout=60)
