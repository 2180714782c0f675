"""Soak: many small files dropped over time through the real daemon (`dagster dev`), watched from outside.

    python -m smart_maintenance_tests.reliability.soak --files 1000 --every 0.5      (make soak)

Drops `--files` small long-format files into landing/ one every `--every` seconds (written aside, then
renamed), while sampling the resident memory of the `dagster dev` process tree. When every file has
left landing/ and the run queue is idle, it reports: files in / ingested once / lost / duplicated, rows
in and out, runs launched (by job and status), partition keys of sensor_readings, files archived, and
the memory of the long-lived processes (webserver, daemon, code server) over time. Exit 1 when a file
is lost or duplicated, or when long-lived memory grew by more than `--max-growth` after warm-up.
Not part of `make test`: 1,000 files take about as many seconds as `--files * --every`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from smart_maintenance_tests.conftest import EQUIPMENT_CSV, SENSORS_CSV, TECHNICIANS_CSV
from smart_maintenance_tests.e2e.servers import _descendants, dagster_dev, free_port
from smart_maintenance_tests.reliability import harness

HEADER = "timestamp,equipment_id,sensor_id,value\n"
RUNS = """query { runsOrError(limit: 100000) { ... on Runs { results { runId status pipelineName } } } }"""
ACTIVE = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def small_file(i: int, rows: int) -> str:
    """Ten minutes of readings of two sensors, file i following file i-1 (1,000 files: about a week)."""
    base = 1_770_000_000 + i * 600  # 2026-02-02, epoch seconds
    lines = [f"{base + r * (600 // rows)},pump-1,{'temp' if r % 2 else 'vib'},{20 + (i + r) % 13}.25\n"
             for r in range(rows)]
    return HEADER + "".join(lines)


def soak(files: int, every: float, rows: int, workdir: Path, max_growth: float) -> dict:
    home, dagster_home = workdir / "data", workdir / "dagster_home"
    (home / "landing").mkdir(parents=True)
    (home / "reference").mkdir()
    for name, text in (("equipment.csv", EQUIPMENT_CSV), ("sensors.csv", SENSORS_CSV), ("technicians.csv", TECHNICIANS_CSV)):
        (home / "reference" / name).write_text(text)
    samples: list[dict] = []
    started = time.monotonic()
    with dagster_dev(home, dagster_home, free_port()) as server:
        long_lived = {server.process.pid, *_descendants(server.process.pid)}

        def sample(note: str = "") -> None:
            tree = {server.process.pid, *_descendants(server.process.pid)}
            samples.append({"t": round(time.monotonic() - started, 1), "note": note,
                            "long_lived_kib": sum(rss_kib(p) for p in long_lived & tree),
                            "tree_kib": sum(rss_kib(p) for p in tree), "processes": len(tree)})

        sample("start")
        next_sample = time.monotonic() + 5
        for i in range(files):
            tmp = home / "landing" / f"soak-{i:05d}.csv.part"
            tmp.write_text(small_file(i, rows))
            os.replace(tmp, tmp.with_suffix(""))
            if time.monotonic() >= next_sample:
                sample(f"{i + 1} dropped")
                next_sample += 5
            time.sleep(every)
        deadline = time.monotonic() + max(600, files)
        while time.monotonic() < deadline:
            runs = server.graphql(RUNS)["runsOrError"]["results"]
            pending = [p for p in (home / "landing").rglob("*") if p.is_file()]
            if not pending and not [r for r in runs if r["status"] in ACTIVE]:
                break
            sample(f"draining: {len(pending)} in landing")
            time.sleep(5)
        sample("end")
        runs = server.graphql(RUNS)["runsOrError"]["results"]

    ledger = harness.ledger(home / "lake")
    distinct, twice = harness.exactly_once(home / "lake")
    ingested_names = Counter(r["source_file"] for r in ledger if r["status"] == "ingested")
    lost = [f"soak-{i:05d}.csv" for i in range(files) if f"soak-{i:05d}.csv" not in ingested_names]
    readings = harness.rows(home / "lake", "sensor_readings", ["timestamp", "sensor_id"])
    partitions = sorted(p.name for p in (home / "lake" / "sensor_readings").glob("date=*"))
    warm = [s["long_lived_kib"] for s in samples[1:4]] or [samples[0]["long_lived_kib"]]
    last = [s["long_lived_kib"] for s in samples[-3:]]
    growth = statistics.median(last) / statistics.median(warm) - 1
    report = {
        "files_dropped": files, "every_seconds": every, "rows_per_file": rows,
        "files_ingested": len(ingested_names), "distinct_contents_ingested": distinct,
        "lost": len(lost), "duplicated": len(twice), "lost_files": lost[:20],
        "rows_read": sum(r["rows_read"] or 0 for r in ledger), "rows_kept": sum(r["rows_kept"] or 0 for r in ledger),
        "rows_in_lake": len(readings), "rows_dropped": files * rows,
        "runs": dict(Counter(f"{r['pipelineName']}:{r['status']}" for r in runs)), "runs_total": len(runs),
        "sensor_readings_partition_keys": len(partitions),
        "archived_files": sum(1 for p in (home / "archive").rglob("*") if p.is_file()),
        "long_lived_rss_mib": {"warm": round(statistics.median(warm) / 1024, 1), "end": round(statistics.median(last) / 1024, 1),
                               "max": round(max(s["long_lived_kib"] for s in samples) / 1024, 1),
                               "growth": round(growth, 3)},
        "tree_rss_mib_max": round(max(s["tree_kib"] for s in samples) / 1024, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
        "samples": samples,
    }
    report["ok"] = report["lost"] == 0 and report["duplicated"] == 0 and growth <= max_growth
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between two drops")
    parser.add_argument("--rows", type=int, default=20, help="readings per file")
    parser.add_argument("--max-growth", type=float, default=0.5, help="allowed long-lived RSS growth after warm-up")
    parser.add_argument("--out", help="write the JSON report here")
    parser.add_argument("--workdir", help="keep the data root and Dagster home here (default: a temp folder)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="sm-soak-"))
    report = soak(args.files, args.every, args.rows, workdir, args.max_growth)
    text = json.dumps(report, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text + "\n")
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary, indent=2, default=str))
    print(f"workdir: {workdir}", file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
