"""Steps on Celery workers: a Redis broker, two worker processes, runs on a PostgreSQL instance.

Nothing is mocked: the workers are `celery -A smart_maintenance.defs.executor worker` processes that
share only the instance database (DAGSTER_HOME) and the data root with the runs, exactly as in
deploy/celery/. Runs are started the way an operator would start them by hand (`dagster asset
materialize`, `dagster job execute`), with SMART_MAINTENANCE_EXECUTOR=celery. Where a step ran is read
back from Dagster's own event log: the Celery node that took the step and the process id of every
step event, which must be a process of that worker (and not the run's own process).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from smart_maintenance import lake
from smart_maintenance.defs.detection.sensors import models_to_fit
from smart_maintenance_tests.conftest import write_reference
from smart_maintenance_tests.e2e.servers import (
    REPO_ROOT,
    VENV_BIN,
    CeleryWorker,
    celery_env,
    celery_workers,
    postgres_server,
    redis_server,
)  # fmt: skip
from smart_maintenance_tests.reliability import harness
from smart_maintenance_tests.reliability.corpus import HEADER

pytestmark = pytest.mark.e2e

DAGSTER = str(VENV_BIN / "dagster")
MODULE = ["-m", "smart_maintenance.definitions"]
RUN_TIMEOUT_S = 240
CELERY_WORKER = (
    "Celery worker"  # the label dagster-celery gives the node name in its engine event
)


@contextlib.contextmanager
def cluster(
    tmp: Path, data_root: Path, workers: int = 2
) -> Iterator[tuple[dict, list[CeleryWorker], dg.DagsterInstance]]:
    """PostgreSQL + Redis + `workers` Celery workers (one step at a time each) for one data root.

    Yields the environment of a run (broker, instance, data root), the workers, and the instance as
    seen from the test (the same PostgreSQL database). The partition locks go through the same database
    (SMART_MAINTENANCE_LOCK_URL, lake.py) when the lake supports it: workers on several machines share
    nothing else, so that is the deployment's setting."""
    dagster_home = tmp / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(
        REPO_ROOT / "deploy" / "celery" / "dagster.yaml", dagster_home / "dagster.yaml"
    )
    with postgres_server(tmp) as pg, redis_server(tmp) as redis:
        locks = (
            {lake.LOCK_URL_ENV: _pg_url(pg)} if hasattr(lake, "LOCK_URL_ENV") else {}
        )
        env = celery_env(
            redis.url(), data_root, dagster_home, pg, PYTHONWARNINGS="ignore", **locks
        )
        names = [f"w{i + 1}" for i in range(workers)]
        with (
            celery_workers(names, env, tmp / "logs") as started,
            _environ(env),
            dg.DagsterInstance.from_config(str(dagster_home)) as instance,
        ):
            yield env, started, instance


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    """The run environment in this process too, so that the instance (PG_* settings) and the lake locks
    resolve as they do in the workers."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def start(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen:
    """A run orchestrated by its own `dagster` process (what the daemon's run launcher starts, too)."""
    return subprocess.Popen(
        [DAGSTER, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def start_ingest(env: dict[str, str], cwd: Path, config: Path, *extra: str) -> subprocess.Popen:
    """The ingest_landing job with a run config file, as `dagster job execute` (its steps go to the workers)."""
    return start(env, cwd, "job", "execute", *MODULE, "-j", "ingest_landing", "-c", str(config), *extra)


def finish(processes: list[subprocess.Popen], timeout: float = RUN_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            out, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            harness.kill9(process)
            raise
        assert process.returncode == 0, (
            f"{' '.join(process.args)} exited {process.returncode}:\n{out[-4000:]}"
        )


def materialize(
    env: dict[str, str],
    cwd: Path,
    asset: str,
    partitions: list[str] | None = None,
    ranges: list[tuple[str, str]] | None = None,
) -> None:
    """One run per partition (or per range), all launched at once: several steps in flight together."""
    targets = [["--partition", p] for p in partitions or []] + [
        ["--partition-range", f"{a}...{b}"] for a, b in ranges or []
    ]
    finish(
        [
            start(env, cwd, "asset", "materialize", *MODULE, "--select", asset, *t)
            for t in targets or [[]]
        ]
    )


def where_steps_ran(
    instance: dg.DagsterInstance, run_id: str
) -> dict[str, tuple[str, set[int], int | None]]:
    """Per step of a run: (Celery node that took it, pids of its step events, pid of the run's own process)."""
    node, pids, orchestrator = {}, {}, None
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.RUN_START:
            orchestrator = event.pid
        elif event.event_type == dg.DagsterEventType.ENGINE_EVENT and event.step_key:
            metadata = event.engine_event_data.metadata
            if CELERY_WORKER in metadata:
                node[event.step_key] = metadata[CELERY_WORKER].value
        elif event.step_key and event.event_type in (
            dg.DagsterEventType.STEP_START,
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.ASSET_MATERIALIZATION,
        ):
            pids.setdefault(event.step_key, set()).add(event.pid)
    return {
        step: (node.get(step, "not on a Celery worker"), step_pids, orchestrator)
        for step, step_pids in pids.items()
    }


def assert_steps_ran_in_workers(
    instance: dg.DagsterInstance, workers: list[CeleryWorker]
) -> dict[str, int]:
    """Every step of every run ran in a pool process of the Celery worker that took it. Returns steps per worker."""
    processes = {w.name: w.pids() for w in workers}
    per_worker = dict.fromkeys(processes, 0)
    runs = instance.get_runs()
    assert runs
    for run in runs:
        assert run.status == dg.DagsterRunStatus.SUCCESS, (
            f"run {run.run_id} ({run.job_name}): {run.status}"
        )
        steps = where_steps_ran(instance, run.run_id)
        assert steps, f"run {run.run_id} recorded no step"
        for step, (node, pids, orchestrator) in steps.items():
            assert node in processes, (
                f"{run.run_id} {step}: taken by {node}, not one of {sorted(processes)}"
            )
            assert pids <= processes[node], (
                f"{run.run_id} {step}: events from pids {pids}, {node} has {processes[node]}"
            )
            assert orchestrator not in pids, (
                f"{run.run_id} {step}: ran in the run's own process {orchestrator}"
            )
            per_worker[node] += 1
    return per_worker


# --- several partitions through the Celery executor equal the local run ------------------------------


def test_partitions_materialized_on_two_celery_workers_equal_the_local_run(
    tmp_path: Path,
) -> None:
    """A simulated plant (3 days, 2 machines): the in-process `smart-maintenance run` on one copy; on the
    other, ingestion then the weekly models, one run per day of anomaly scores (all at once) and the
    alerts, every step on the two Celery workers. Same rows and values in every dataset compared."""
    env = harness.base_env(tmp_path)
    harness.simulate(tmp_path / "input", days=3, equipment=2, env=env)
    local, distributed = tmp_path / "local", tmp_path / "distributed"
    harness.copy_input(tmp_path / "input", local)
    harness.copy_input(tmp_path / "input", distributed)
    reference = harness.start_run(
        local, env, tmp_path / "local.log"
    )  # meanwhile, the reference
    try:
        with cluster(tmp_path, distributed) as (run_env, workers, instance):
            config = tmp_path / "ingest.yaml"
            config.write_text(
                f"ops:\n  ingest_landing_files:\n    config:\n      now: '{harness.NOW}'\n"
                "      min_file_age_seconds: 0\n"
            )
            finish([start_ingest(run_env, tmp_path, config)])
            weeks = models_to_fit(instance)
            days = sorted(
                p.name.removeprefix("date=")
                for p in (distributed / "lake" / "sensor_readings").glob("date=*")
            )
            assert weeks and len(days) >= 4, (weeks, days)
            materialize(run_env, tmp_path, "detection_models", ranges=weeks)
            materialize(run_env, tmp_path, "anomaly_scores", partitions=days)
            materialize(run_env, tmp_path, "alerts")

            per_worker = assert_steps_ran_in_workers(instance, workers)
            print(
                f"\nsteps per worker: {per_worker} ({len(days)} days, model ranges {weeks})"
            )
            assert len(instance.get_runs()) == 1 + len(weeks) + len(days) + 1
            assert all(per_worker.values()), f"a worker took no step: {per_worker}"
    finally:
        assert reference.wait(timeout=RUN_TIMEOUT_S) == 0, (
            tmp_path / "local.log"
        ).read_text()[-3000:]

    compared = {
        **harness.COMPARED,
        "alerts": [
            "alert_id",
            "equipment_id",
            "sensor_id",
            "started_at",
            "ended_at",
            "severity",
            "validation_status",
            "n_readings",
            "peak_score",
            "mean_score",
            "detectors_fired",
            "is_open",
            "validation_reasons",
        ],
    }
    for dataset, columns in compared.items():
        assert harness.rows(local / "lake", dataset, columns), (
            f"the reference run wrote no {dataset}"
        )
    assert (
        harness.lake_differences(distributed / "lake", local / "lake", compared) == {}
    )
    print("distributed:", harness.totals(distributed / "lake"))


# --- one partition processed twice at once, on two workers ------------------------------------------

DAY = "2026-02-20"


def readings_file(first_minute: int, minutes: int) -> str:
    """Readings of pump-1 on DAY, one a minute for two sensors; a minute's value depends only on the minute,
    so two files that overlap repeat the same readings (duplicates, never conflicting values)."""
    rows = []
    for m in range(first_minute, first_minute + minutes):
        stamp = f"{DAY}T{m // 60:02d}:{m % 60:02d}:00Z"
        rows += [
            f"{stamp},pump-1,temp,{40 + m % 13 * 0.5}\n",
            f"{stamp},pump-1,vib,{1 + m % 7 * 0.25}\n",
        ]
    return HEADER + "".join(rows)


def test_one_partition_ingested_twice_at_once_on_two_workers_is_one_correct_partition(
    tmp_path: Path,
) -> None:
    """Two ingest runs merge into the same day at the same time, each on its own worker: run A brings
    minutes 0-119, run B minutes 60-179 and a copy of A's file under another name. The test holds the
    day's partition lock until both steps are running on the two workers, so both really are inside the
    partition's read-merge-write at once; then the lock goes and both finish. The day must hold every
    reading once (minutes 0-179, two sensors), and A's content must be ingested exactly once."""
    home = tmp_path / "data"
    (home / "landing").mkdir(parents=True)
    write_reference(home / "reference")
    (home / "landing" / "a.csv").write_text(readings_file(0, 120))
    (home / "landing" / "b.csv").write_text(readings_file(60, 120))
    (home / "landing" / "a_copy.csv").write_text(readings_file(0, 120))

    with cluster(tmp_path, home) as (run_env, workers, instance):
        runs = {}
        with lake.partition_locks(home.resolve() / "lake", "sensor_readings", [DAY]):
            for name, files in (("A", ["a.csv"]), ("B", ["b.csv", "a_copy.csv"])):
                config = tmp_path / f"ingest-{name}.yaml"
                config.write_text(
                    "ops:\n  ingest_landing_files:\n    config:\n      now: '2026-02-21T00:00:00+00:00'\n"
                    f"      files: {files}\n"
                )
                runs[name] = start_ingest(run_env, tmp_path, config, "--tags", f'{{"test/run": "{name}"}}')
            busy = wait_until_both_steps_run(instance, runs)
            time.sleep(
                2.0
            )  # both steps started; neither may get past the lock held here
            assert not [
                r
                for r in instance.get_runs()
                if r.status != dg.DagsterRunStatus.STARTED
            ]
            finished = [
                e
                for r in instance.get_runs()
                for e in instance.all_logs(
                    r.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS
                )
            ]
            assert finished == [], "a step got past the partition lock held by the test"
        finish(list(runs.values()))

        print(f"\nboth steps in flight at once: {busy}")
        per_worker = assert_steps_ran_in_workers(instance, workers)
        assert per_worker == {w.name: 1 for w in workers}

    expected = sorted(
        {
            line
            for text in (readings_file(0, 120), readings_file(60, 120))
            for line in text.splitlines()[1:]
        }
    )
    stored = harness.rows(
        home / "lake",
        "sensor_readings",
        ["timestamp", "equipment_id", "sensor_id", "value"],
    )
    as_lines = sorted(
        f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{e},{s},{v}" for t, e, s, v in stored
    )
    assert (
        len(stored) == 180 * 2 and as_lines == expected
    )  # every reading once: none lost, none doubled
    assert [
        p.name
        for p in (home / "lake" / "sensor_readings").iterdir()
        if not p.name.startswith(".")
    ] == [f"date={DAY}"]
    ledger = sorted(
        (r["source_file"], r["status"]) for r in harness.ledger(home / "lake")
    )
    assert ("b.csv", "ingested") in ledger and len(ledger) == 3
    assert sorted(s for f, s in ledger if f in ("a.csv", "a_copy.csv")) == [
        "duplicate_file",
        "ingested",
    ]
    assert harness.exactly_once(home / "lake") == (2, [])
    assert not list((home / "landing").glob("*.csv"))


def wait_until_both_steps_run(
    instance: dg.DagsterInstance, runs: dict, timeout: float = 120
) -> dict[str, str]:
    """Wait until each test run's step has started on a Celery worker; returns run name -> worker node."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = {}
        for run in instance.get_runs():
            name = run.tags.get("test/run")
            started = instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.STEP_START
            )
            steps = where_steps_ran(instance, run.run_id)
            if name and started and steps:
                nodes[name] = next(iter(steps.values()))[0]
        if len(nodes) == len(runs):
            assert len(set(nodes.values())) == len(runs), (
                f"both steps on one worker: {nodes}"
            )
            return nodes
        for name, process in runs.items():
            assert process.poll() is None, (
                f"run {name} ended early:\n{process.communicate()[0][-4000:]}"
            )
        time.sleep(0.5)
    raise TimeoutError(f"the two steps did not both start within {timeout:.0f} s")


def _pg_url(pg: dict) -> str:
    return f"postgresql://{pg['user']}:{pg['password']}@{pg['host']}:{pg['port']}/{pg['db']}"
