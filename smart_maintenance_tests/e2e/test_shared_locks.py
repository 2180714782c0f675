"""Partition locks shared through a real PostgreSQL server (`SMART_MAINTENANCE_LOCK_URL`): what writers on
several machines use when no file system is shared. Separate processes, a real server, real timing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from smart_maintenance import lake
from smart_maintenance_tests.e2e.servers import postgres_server

pytestmark = pytest.mark.timeout(300)

# A child process: take the locks, say so, hold them `hold` seconds, say when it let go.
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from smart_maintenance import lake
    name, values, hold = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3])
    with lake.partition_locks(Path("/nowhere/lake"), "sensor_readings", values):
        print(f"{name} acquired {time.time():.3f}", flush=True)
        time.sleep(hold)
        print(f"{name} released {time.time():.3f}", flush=True)
""")


def _holder(name: str, values: str, hold: float, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLDER, name, values, str(hold)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for(process: subprocess.Popen, word: str, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if word in line:
            return float(line.split()[-1])
        if not line and process.poll() is not None:
            raise AssertionError(f"holder ended without '{word}': {process.stderr.read()[-2000:]}")
    raise AssertionError(f"no '{word}' within {timeout} s")


def _advisory_locks_held(url: str) -> int:
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        return cur.fetchone()[0]


def test_postgres_locks_serialise_processes_and_die_with_their_holder(tmp_path: Path) -> None:
    with postgres_server(tmp_path) as pg:
        url = f"postgresql://{pg['user']}:{pg['password']}@{pg['host']}:{pg['port']}/{pg['db']}"
        env = {**os.environ, lake.LOCK_URL_ENV: url}

        # Two processes, overlapping partitions (taken in sorted order: no deadlock): strictly one after the other.
        first = _holder("a", "2026-03-02,2026-03-01", 1.5, env)
        acquired_a = _wait_for(first, "acquired")
        second = _holder("b", "2026-03-01,2026-03-03", 0.1, env)
        released_a = _wait_for(first, "released")
        acquired_b = _wait_for(second, "acquired")
        assert acquired_a < released_a <= acquired_b, (acquired_a, released_a, acquired_b)
        assert first.wait(30) == 0 and second.wait(30) == 0

        # Disjoint partitions do not wait for each other.
        long = _holder("c", "2026-03-05", 30, env)
        _wait_for(long, "acquired")
        assert _advisory_locks_held(url) == 1  # the lock is the server's, not a local file's
        started = time.time()
        other = _holder("d", "2026-03-06", 0, env)
        assert _wait_for(other, "acquired") - started < 10
        assert other.wait(30) == 0

        # A holder killed with -9 frees its locks: the server ends its session.
        same = _holder("e", "2026-03-05", 0, env)
        time.sleep(1.0)
        assert same.poll() is None, "took a lock another process holds"
        os.killpg(long.pid, signal.SIGKILL)
        long.wait(30)
        _wait_for(same, "acquired", timeout=30)
        assert same.wait(30) == 0
