"""What the fault, concurrency and soak tests share: real `smart-maintenance` processes on temp data
roots, and the questions asked of a lake afterwards (is any Parquet file broken? is it the same lake
as a clean run's? was any file ingested twice or forgotten?)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from smart_maintenance_tests.e2e.servers import VENV_BIN

CLI = str(VENV_BIN / "smart-maintenance")
NOW = "2026-03-01T00:00:00+00:00"
PLANTED_SECRET = "planted-Secret-7f3a9c"  # set as SMART_MAINTENANCE_PG_PASSWORD where Postgres is not used

# What must be identical to a clean run, per dataset (columns compared; rows sorted).
COMPARED = {
    "sensor_readings": ["timestamp", "equipment_id", "sensor_id", "value", "quality", "reference_status", "file_sha256"],
    "quarantine": ["file_sha256", "row_number", "reason", "raw_value"],
    "anomaly_scores": ["timestamp", "equipment_id", "sensor_id", "value", "anomaly_score", "is_anomaly"],
    "maintenance_events": ["timestamp", "equipment_id", "event_type"],
}


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMART_MAINTENANCE_", "DAGSTER_"))}
    env.update(MPLCONFIGDIR=str(tmp / "mpl"), PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore")
    env.update(extra)
    return env


def simulate(home: Path, days: float, equipment: int, env: dict[str, str]) -> None:
    subprocess.run([CLI, "simulate", "--home", str(home), "--days", str(days), "--equipment", str(equipment),
                    "--layout", "long_csv", "--end", NOW, "--seed", "11"], env=env, check=True, capture_output=True,
                   timeout=300)
    shutil.rmtree(home / "ground_truth", ignore_errors=True)
    _age(home / "landing")


def copy_input(source: Path, target: Path) -> None:
    """A second data root with the same landing files and reference data (nothing else)."""
    for folder in ("landing", "reference"):
        shutil.copytree(source / folder, target / folder)
    _age(target / "landing")


def _age(landing: Path) -> None:
    an_hour_ago = time.time() - 3600  # ready at once for a one-shot run
    for path in landing.rglob("*"):
        os.utime(path, (an_hour_ago, an_hour_ago))


def start_run(home: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`smart-maintenance run` in its own process group (so kill -9 takes every child with it)."""
    with open(log, "ab") as fh:
        return subprocess.Popen([CLI, "run", "--home", str(home), "--now", NOW, "--min-file-age", "0"], env=env,
                                cwd=home.parent, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def run(home: Path, env: dict[str, str], log: Path, timeout: float = 600) -> int:
    process = start_run(home, env, log)
    try:
        return process.wait(timeout=timeout)
    finally:
        kill9(process)


def kill9(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)


def kill_when(process: subprocess.Popen, folder: Path, timeout: float = 300) -> str:
    """kill -9 the run as soon as a Parquet file or a temp file of one appears under `folder`
    (the run is writing there). Returns what was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.returncode}) before writing under {folder}")
        if folder.exists():
            for dirpath, _, names in os.walk(folder):
                seen = [n for n in names if n.endswith(".parquet") or ".parquet.tmp-" in n]
                if seen:
                    kill9(process)
                    return os.path.join(dirpath, seen[0])
        time.sleep(0.005)
    kill9(process)
    raise AssertionError(f"nothing written under {folder} within {timeout} s")


def broken_parquet(lake: Path) -> list[str]:
    """Every visible Parquet file of the lake that does not open and read in full."""
    broken = []
    for path in lake.rglob("*.parquet"):
        try:
            pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - any failure to read is what we look for
            broken.append(f"{path}: {exc}")
    return broken


def rows(lake: Path, dataset: str, columns: list[str]) -> list[tuple]:
    if not (lake / dataset).exists() or not any((lake / dataset).rglob("*.parquet")):
        return []
    cols = ", ".join(f'"{c}"' for c in columns)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    return con.sql(f"SELECT {cols} FROM read_parquet('{lake}/{dataset}/**/*.parquet', hive_partitioning=true, "
                   f"union_by_name=true) ORDER BY ALL").fetchall()


def lake_differences(lake: Path, clean: Path, datasets: dict[str, list[str]] = COMPARED) -> dict[str, str]:
    """Datasets whose rows differ from the clean run's (empty: the same lake)."""
    found = {}
    for dataset, columns in datasets.items():
        a, b = rows(lake, dataset, columns), rows(clean, dataset, columns)
        if a != b:
            extra, missing = Counter(a) - Counter(b), Counter(b) - Counter(a)
            found[dataset] = f"{len(a)} rows vs {len(b)} clean: {sum(extra.values())} extra, {sum(missing.values())} missing"
    return found


def ledger(lake: Path) -> list[dict]:
    if not (lake / "ingested_files").exists():
        return []
    con = duckdb.connect()
    return con.sql(f"SELECT * FROM read_parquet('{lake}/ingested_files/**/*.parquet', hive_partitioning=true)").to_arrow_table().to_pylist()


def exactly_once(lake: Path) -> tuple[int, list[str]]:
    """(distinct contents ingested, contents ingested more than once)."""
    counts = Counter(r["file_sha256"] for r in ledger(lake) if r["status"] == "ingested")
    return len(counts), [sha for sha, n in counts.items() if n > 1]


def grep_tree(folder: Path, needle: str) -> list[str]:
    """Files under `folder` whose bytes contain `needle` (Parquet, SQLite, JSON, logs alike)."""
    hits, raw = [], needle.encode()
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                if raw in path.read_bytes():
                    hits.append(str(path))
    return hits


def totals(lake: Path) -> str:
    """One line for the record: files and rows in and out, from the ledger."""
    entries = ledger(lake)
    status = Counter(r["status"] for r in entries)
    rows_of = lambda key: sum(r[key] or 0 for r in entries)  # noqa: E731
    return (f"files {dict(status)}; rows read {rows_of('rows_read')} = kept {rows_of('rows_kept')} + quarantined "
            f"{rows_of('rows_quarantined')} + duplicates {rows_of('rows_duplicate')}")
