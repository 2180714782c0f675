"""`make cluster` (deploy/celery/run-cluster.sh) as an operator uses it: start it, drop a file, Ctrl-C.

The whole deployment comes up (PostgreSQL, Redis, two Celery workers, the daemon, the webserver), the
landing sensor's ingest run goes through the daemon's run queue and its step runs on a Celery worker,
and one SIGINT stops every process the script started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from smart_maintenance_tests.conftest import write_reference
from smart_maintenance_tests.e2e.servers import (
    REPO_ROOT,
    _alive,
    _descendants,
    _describe,
    free_port,
    graphql,
    log_tail,
)
from smart_maintenance_tests.reliability.corpus import HEADER

pytestmark = pytest.mark.e2e

SCRIPT = REPO_ROOT / "deploy" / "celery" / "run-cluster.sh"
READY_LINE = "Ctrl-C stops everything"

RUNS = """query { runsOrError(filter: {pipelineName: "ingest_landing"}) { ... on Runs { results { runId status } } } }"""
ENGINE_EVENTS = """query($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
    __typename ... on EngineEvent { stepKey metadataEntries { label ... on TextMetadataEntry { text } } } } } } }"""


def _started(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rindex(")") + 2 :].split()[
        19
    ]  # field 22, start time in clock ticks since boot


def wait_for(
    what: str, probe, process: subprocess.Popen, log: Path, timeout: float = 180
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"run-cluster.sh exited ({process.returncode}) while waiting for {what}\n{log_tail(log)}"
            )
        if found := probe():
            return found
        time.sleep(1.0)
    raise AssertionError(f"no {what} within {timeout:.0f} s\n{log_tail(log)}")


def test_make_cluster_runs_the_landing_sensors_ingest_on_a_worker_and_stops_on_ctrl_c(
    tmp_path: Path, request
) -> None:
    # The cluster folder holds PostgreSQL's data: PostgreSQL runs as its own user, who cannot enter
    # pytest's private temp folders, so it goes to a folder of its own under the system temp dir.
    state = Path(tempfile.mkdtemp(prefix="sm-cluster-"))
    state.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(state, ignore_errors=True))
    home, port = tmp_path / "data", free_port()
    (home / "landing").mkdir(parents=True)
    write_reference(home / "reference")
    readings = "".join(
        f"2026-02-20T00:{m:02d}:00Z,pump-1,temp,{40 + m / 10}\n" for m in range(30)
    )
    (home / "landing" / "pump.csv").write_text(HEADER + readings)

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SMART_MAINTENANCE_", "DAGSTER_"))
    }
    env |= {
        "SM_HOME": str(home),
        "SM_CLUSTER_DIR": str(state),
        "SM_UI_PORT": str(port),
        "PYTHONWARNINGS": "ignore",
    }
    log = tmp_path / "cluster.log"
    with open(log, "wb") as out:
        # Its own session, like a terminal's foreground job: SIGINT reaches the script, which stops the rest.
        script = subprocess.Popen(
            ["bash", str(SCRIPT)],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    family: dict[
        int, str
    ] = {}  # pid -> its start time: a pid reused by another process is not ours
    try:
        wait_for("ready cluster", lambda: READY_LINE in log.read_text(), script, log)

        def ingested():
            runs = graphql(port, RUNS)["runsOrError"]["results"]
            return (
                runs
                if runs and all(r["status"] in ("SUCCESS", "FAILURE") for r in runs)
                else None
            )

        runs = wait_for("finished ingest run", ingested, script, log)
        assert [r["status"] for r in runs] == ["SUCCESS"]
        events = graphql(port, ENGINE_EVENTS, {"runId": runs[0]["runId"]})[
            "logsForRun"
        ]["events"]
        nodes = {
            e["stepKey"]: m["text"]
            for e in events
            if e["__typename"] == "EngineEvent"
            for m in e["metadataEntries"]
            if m["label"] == "Celery worker"
        }
        assert set(nodes) == {"ingest_landing_files"} and nodes[
            "ingest_landing_files"
        ].split("@")[0] in ("w1", "w2")
        assert (home / "archive" / "pump.csv").exists() and any(
            (home / "lake" / "sensor_readings").glob("date=*/*.parquet")
        )
        postmaster = int(
            (state / "postgres" / "data" / "postmaster.pid").read_text().split()[0]
        )
        family.update(
            {pid: _started(pid) for pid in _descendants(script.pid) | {postmaster}}
        )
    finally:
        script.send_signal(signal.SIGINT)
        try:
            code = script.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(script.pid, signal.SIGKILL)
            raise
        time.sleep(0.5)
        ours = {pid for pid in _alive(set(family)) if _started(pid) == family[pid]}
        leftovers = [_describe(pid) for pid in ours]
        for pid in ours:  # leave nothing behind for the next test, then fail below
            os.kill(pid, signal.SIGKILL)
    print(f"\n{log_tail(log, 12)}")
    assert code == 130, log_tail(log)
    assert "stopped" in log.read_text().splitlines()[-1]
    assert leftovers == [], f"still running after Ctrl-C: {leftovers}"
    assert (
        len(family) >= 6
    )  # redis, 2 workers (and their pools), daemon, webserver (and code servers), postgres
