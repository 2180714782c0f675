"""Concurrency: many files dropped at once, several runs racing on one data root. Every file's content
is ingested exactly once, and runs merging into the same daily partitions lose no update (the
partition file locks of `lake.partition_locks` serialise the read-merge-write of a day)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from smart_maintenance_tests.conftest import EQUIPMENT_CSV, SENSORS_CSV, TECHNICIANS_CSV
from smart_maintenance_tests.e2e.servers import REPO_ROOT, postgres_server
from smart_maintenance_tests.reliability import harness
from smart_maintenance_tests.reliability.corpus import HEADER

DAYS = ("2026-02-20", "2026-02-21", "2026-02-22")


def drop_files(home: Path, files: int, rows: int = 90, overlap: int = 10) -> set[tuple]:
    """`files` files over the same three days; each repeats `overlap` readings of the previous file
    (same key, same value: duplicates). Returns the distinct readings (key + value)."""
    for folder in ("landing", "reference"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    for name, text in (("equipment.csv", EQUIPMENT_CSV), ("sensors.csv", SENSORS_CSV), ("technicians.csv", TECHNICIANS_CSV)):
        (home / "reference" / name).write_text(text)
    distinct = set()
    for f in range(files):
        lines = []
        for r in range(-overlap if f else 0, rows):
            n = f * rows + r  # reading number, unique per (file, row) except the overlap
            day, second = DAYS[n % 3], n // 3
            key = (f"{day}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z", "pump-1", "temp")
            lines.append(f"{key[0]},pump-1,temp,{n % 97}.5\n")
            distinct.add((*key, n % 97 + 0.5))
        (home / "landing" / f"f{f:02d}.csv").write_text(HEADER + "".join(lines))
    harness._age(home / "landing")
    return distinct


def check_exactly_once(home: Path, files: int, distinct: set[tuple]) -> None:
    print(f"\n{files} files, {len(distinct)} distinct readings:", harness.totals(home / "lake"))
    ledger = harness.ledger(home / "lake")
    ingested = [r for r in ledger if r["status"] == "ingested"]
    assert sorted(r["source_file"] for r in ingested) == [f"f{f:02d}.csv" for f in range(files)]
    assert harness.exactly_once(home / "lake") == (files, [])
    for r in ledger:
        assert r["rows_read"] == r["rows_kept"] + r["rows_quarantined"] + r["rows_duplicate"], r
    stored = harness.rows(home / "lake", "sensor_readings", ["timestamp", "equipment_id", "sensor_id", "value"])
    assert len(stored) == len(distinct) == sum(r["rows_kept"] for r in ingested)
    assert {(t.strftime("%Y-%m-%dT%H:%M:%SZ"), e, s, v) for t, e, s, v in stored} == distinct
    assert not [p for p in (home / "landing").rglob("*") if p.is_file()]
    assert harness.broken_parquet(home / "lake") == []


WORKER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timezone
    from pathlib import Path
    from smart_maintenance.config import DataRoot
    from smart_maintenance.ingest.batch import ingest_batch
    root, start, files = DataRoot(Path(sys.argv[1])), float(sys.argv[2]), sys.argv[3:]
    while time.time() < start:
        time.sleep(0.001)
    for name in files:  # one file per batch: as many merges as possible
        (f,) = ingest_batch(root, [name], now=datetime(2026, 3, 1, tzinfo=timezone.utc), batch_id=name).files
        assert f.status == "ingested", f
""")


def test_processes_merging_into_the_same_days_lose_no_update(tmp_path: Path) -> None:
    """4 processes, each with its own 12 files (every file touches the same 3 days), released at the same
    instant, one file per batch: every merge reads, merges and rewrites a day another process is
    rewriting too. Without the partition locks some rows would vanish."""
    home = tmp_path / "data"
    distinct = drop_files(home, 48)
    start = time.time() + 3  # interpreter start-up of all four first
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(home), str(start)]
                                + [f"f{f:02d}.csv" for f in range(w, 48, 4)], stdout=subprocess.PIPE, text=True)
               for w in range(4)]
    for worker in workers:
        worker.communicate(timeout=300)
        assert worker.returncode == 0
    check_exactly_once(home, 48, distinct)


@pytest.mark.e2e
def test_50_files_4_concurrent_runs_on_postgres_each_ingested_once(tmp_path: Path) -> None:
    """50 files dropped at once; 4 `smart-maintenance run` processes start together on the same data root
    with the production (PostgreSQL) instance. Each file is taken by exactly one run."""
    home, dagster_home = tmp_path / "data", tmp_path / "dagster_home"
    distinct = drop_files(home, 50)
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    with postgres_server(tmp_path) as pg:
        env = harness.base_env(tmp_path, DAGSTER_HOME=str(dagster_home), SMART_MAINTENANCE_PG_HOST=pg["host"],
                               SMART_MAINTENANCE_PG_PORT=str(pg["port"]), SMART_MAINTENANCE_PG_DB=pg["db"],
                               SMART_MAINTENANCE_PG_USER=pg["user"], SMART_MAINTENANCE_PG_PASSWORD=pg["password"])
        logs = [tmp_path / f"run{i}.log" for i in range(4)]
        started = time.perf_counter()
        runs = [harness.start_run(home, env, log) for log in logs]
        codes = [r.wait(timeout=600) for r in runs]
        print(f"\n4 concurrent runs: exit codes {codes} in {time.perf_counter() - started:.1f} s")
        for log in logs:
            print(next((line for line in log.read_text().splitlines() if line.startswith("files:")), "files: -"))
        assert codes == [0, 0, 0, 0], "\n".join(log.read_text()[-2000:] for log in logs)
        check_exactly_once(home, 50, distinct)
        assert harness.grep_tree(home, pg["password"]) == []
