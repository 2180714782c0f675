"""`python -m smart_maintenance_tests.distributed.benchmark`: steps on Celery workers versus in process.

Measures, on the synthetic plant of the pipeline benchmark (5M readings: 20 machines, 100 sensors,
50,000 one-minute slots, about 36 daily partitions; generation, ingestion and the weekly models are
set-up, never timed):
1. the backfill of `anomaly_scores` over every day, from the first run launched to the last one done:
   in process (one run, the reference); on Celery as one run (what a Dagster backfill of this asset
   launches: its backfill policy is `single_run`); and split into runs of `--chunk-days` days with 1
   and with 2 workers, at most 4 runs in flight (deploy/celery/dagster.yaml's `max_concurrent_runs`).
   Every variant must leave the same anomaly scores as the reference (count and a hash of all rows);
2. the overhead of one step on the distributed path: the same small partition (the plant's last day)
   materialized `--repeats` times in process and on an idle worker, with where the time goes.

Each run is a fresh process (`--launch`), as the daemon's run launcher would start it; the workers,
Redis and PostgreSQL are the test helpers' (smart_maintenance_tests/e2e/servers.py). Results go to the
"distributed" section of BENCHMARKS.md and to benchmarks/distributed.json, with the load average
before and after each measurement (the machine is shared).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from smart_maintenance.benchmarking.report import header, update_section, write_json
from smart_maintenance_tests.e2e.servers import (
    REPO_ROOT,
    celery_env,
    celery_workers,
    postgres_server,
    redis_server,
)

SECTION = "distributed"
MAX_RUNS_IN_FLIGHT = 4
RANGE_START, RANGE_END = (
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
)


# --- one run, in its own process ----------------------------------------------------------------------


def launch(asset: str, first: str, last: str) -> int:
    """Materialize `asset` for the days first..last in this process (the run's orchestrator), with the
    executor of SMART_MAINTENANCE_EXECUTOR: one step, the asset with the checks it evaluates itself
    (not the separate drift check, which is no part of a backfill)."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from smart_maintenance.definitions import defs

    key = dg.AssetKey(asset)
    repository = ReconstructableRepository.for_module(
        "smart_maintenance.definitions", "defs", os.getcwd()
    )
    job = repository.get_reconstructable_job("__ASSET_JOB").get_subset(
        asset_selection={key},
        asset_check_selection=set(defs.resolve_assets_def(key).check_keys),
    )
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            job, instance, tags={RANGE_START: first, RANGE_END: last}
        )
        print(result.run_id)
        return 0 if result.success else 1


def start_run(
    env: dict[str, str], asset: str, first: str, last: str, log: Path
) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", __spec__.name, "--launch", asset, first, last],
            env=env,
            cwd=REPO_ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def run_all(
    env: dict[str, str], asset: str, ranges: list[tuple[str, str]], log: Path
) -> float:
    """Every range as its own run, at most MAX_RUNS_IN_FLIGHT at once; wall seconds until all are done."""

    def one(days: tuple[str, str]) -> int:
        return start_run(env, asset, *days, log).wait()

    started = time.perf_counter()
    with ThreadPoolExecutor(MAX_RUNS_IN_FLIGHT) as pool:
        codes = list(pool.map(one, ranges))
    elapsed = time.perf_counter() - started
    if any(codes):
        raise RuntimeError(
            f"{sum(1 for c in codes if c)} of {len(ranges)} runs failed; see {log}"
        )
    return elapsed


# --- what the runs left and what the event log says ----------------------------------------------


def compare_scores(home: Path, reference: Path) -> dict[str, Any]:
    """lake/anomaly_scores against the reference run's, reading by reading: how many rows, how many
    differ (missing, extra, another score or verdict), the largest score difference, verdict flips."""
    import duckdb

    def scan(folder: Path) -> str:
        return f"read_parquet('{folder}/**/*.parquet', hive_partitioning=true)"

    rows, differ, flips, largest = (
        duckdb.connect()
        .execute(
            f"""SELECT count(a.timestamp),
                   count(*) FILTER (WHERE a.timestamp IS NULL OR b.timestamp IS NULL
                                    OR a.anomaly_score IS DISTINCT FROM b.anomaly_score
                                    OR a.is_anomaly IS DISTINCT FROM b.is_anomaly),
                   count(*) FILTER (WHERE a.is_anomaly IS DISTINCT FROM b.is_anomaly),
                   coalesce(max(abs(a.anomaly_score - b.anomaly_score)), 0)
                FROM {scan(home / "lake" / "anomaly_scores")} a
                FULL JOIN {scan(reference)} b USING (equipment_id, sensor_id, timestamp)"""
        )
        .fetchone()
    )
    return {
        "rows": int(rows),
        "differ": int(differ),
        "flips": int(flips),
        "max_abs_diff": float(largest),
    }


def step_timings(instance, run_id: str) -> dict[str, float]:
    """Seconds of the phases of a one-step run, from its event log."""
    import dagster as dg

    t: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind, message = event.event_type, entry.user_message or ""
        if kind == dg.DagsterEventType.RUN_START:
            t["run_start"] = entry.timestamp
        elif (
            kind == dg.DagsterEventType.ENGINE_EVENT
            and "Submitting celery task" in message
        ):
            t["submitted"] = entry.timestamp
        elif (
            kind == dg.DagsterEventType.ENGINE_EVENT
            and "Celery worker" in event.engine_event_data.metadata
        ):
            t["picked_up"] = entry.timestamp
        elif kind == dg.DagsterEventType.STEP_START:
            t["step_start"] = entry.timestamp
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            t["step_end"] = entry.timestamp
        elif kind == dg.DagsterEventType.RUN_SUCCESS:
            t["run_end"] = entry.timestamp
    phases = {
        "run_s": t["run_end"] - t["run_start"],
        "step_s": t["step_end"] - t["step_start"],
    }
    if "submitted" in t:
        phases |= {
            "to_submit_s": t["submitted"] - t["run_start"],
            "queue_s": t["picked_up"] - t["submitted"],
            "worker_setup_s": t["step_start"] - t["picked_up"],
            "result_back_s": t["run_end"] - t["step_end"],
        }
    else:
        phases |= {
            "to_step_s": t["step_start"] - t["run_start"],
            "after_step_s": t["run_end"] - t["step_end"],
        }
    return phases


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's children that have ended (the runs' processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu(workers: list) -> float:
    """CPU seconds used so far by the workers' processes (main and pool)."""
    import psutil

    total = 0.0
    for pid in (p for w in workers for p in w.pids()):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- the benchmark ------------------------------------------------------------------------------------


def set_up(home: Path, slots: int, equipment: int) -> None:
    """The plant, ingested, with the weekly models of every week (in this process, not timed)."""
    import dagster as dg

    from smart_maintenance.benchmarking.pipeline import plant
    from smart_maintenance.definitions import build_defs
    from smart_maintenance.defs.detection.sensors import models_to_fit, range_tags

    plant(home, slots, equipment)
    defs = build_defs(str(home))
    with dg.DagsterInstance.get() as instance:
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        config = {
            "ops": {"ingest_landing_files": {"config": {"min_file_age_seconds": 0}}},
            **quiet,
        }
        assert (
            defs.resolve_job_def("ingest_landing")
            .execute_in_process(run_config=config, instance=instance)
            .success
        )
        for first, last in models_to_fit(instance):
            assert (
                defs.resolve_implicit_global_asset_job_def()
                .execute_in_process(
                    instance=instance,
                    asset_selection=[dg.AssetKey("detection_models")],
                    tags=range_tags(first, last),
                    run_config=quiet,
                )
                .success
            )


def chunks(days: list[str], size: int) -> list[tuple[str, str]]:
    return [
        (days[i], days[min(i + size, len(days)) - 1]) for i in range(0, len(days), size)
    ]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import dagster as dg

    scratch = Path(tempfile.mkdtemp(prefix="sm-distributed-", dir=args.scratch))
    home, dagster_home, logs = (
        scratch / "data",
        scratch / "dagster_home",
        scratch / "logs",
    )
    dagster_home.mkdir(parents=True)
    logs.mkdir()
    shutil.copy(
        REPO_ROOT / "deploy" / "celery" / "dagster.yaml", dagster_home / "dagster.yaml"
    )
    results: dict[str, Any] = {
        "slots": args.slots,
        "equipment": args.equipment,
        "chunk_days": args.chunk_days,
        "backfill_repeats": args.backfill_repeats,
        "max_runs_in_flight": MAX_RUNS_IN_FLIGHT,
        "backfill": [],
        "overhead": {},
    }
    with postgres_server(scratch) as pg, redis_server(scratch) as redis:
        env = celery_env(redis.url(), home, dagster_home, pg, PYTHONWARNINGS="ignore")
        in_process = env | {"SMART_MAINTENANCE_EXECUTOR": "in_process"}
        os.environ.update(env)
        started = time.perf_counter()
        set_up(home, args.slots, args.equipment)
        days = sorted(
            p.name.removeprefix("date=")
            for p in (home / "lake" / "sensor_readings").glob("date=*")
        )
        results |= {
            "set_up_s": round(time.perf_counter() - started, 1),
            "days": len(days),
            "first_day": days[0],
            "last_day": days[-1],
            "readings": _readings(home),
        }
        print(
            f"set-up: {results['readings']:,} readings over {len(days)} days in {results['set_up_s']} s",
            flush=True,
        )

        reference = scratch / "reference_scores"

        def backfill(name: str, workers: int, ranges: list[tuple[str, str]]) -> None:
            """The same backfill `--backfill-repeats` times (median wall), with the CPU time of the runs'
            own processes and of the workers (this machine's 2 cores are shared by all of them)."""
            walls, checks, cpu_runs, cpu_workers, before = [], [], [], [], load()
            for _ in range(args.backfill_repeats):
                shutil.rmtree(home / "lake" / "anomaly_scores", ignore_errors=True)
                with contextlib.ExitStack() as stack:
                    started = (
                        stack.enter_context(
                            celery_workers(
                                [f"w{i + 1}" for i in range(workers)], env, logs
                            )
                        )
                        if workers
                        else []
                    )
                    runs0, workers0 = _children_cpu(), _cpu(started)
                    walls.append(
                        run_all(
                            env if workers else in_process,
                            "anomaly_scores",
                            ranges,
                            logs / "runs.log",
                        )
                    )
                    cpu_runs.append(_children_cpu() - runs0)
                    cpu_workers.append(_cpu(started) - workers0)
                if (
                    not reference.exists()
                ):  # the first run (in process) is the reference
                    shutil.copytree(home / "lake" / "anomaly_scores", reference)
                checks.append(compare_scores(home, reference))
            entry = {
                "variant": name,
                "workers": workers,
                "runs": len(ranges),
                "wall_s": round(statistics.median(walls), 1),
                "walls_s": [round(w, 1) for w in walls],
                "cpu_runs_s": round(statistics.median(cpu_runs), 1),
                "cpu_workers_s": round(statistics.median(cpu_workers), 1),
                "versus_reference": checks,
                "load_before": before,
                "load_after": load(),
            }
            results["backfill"].append(entry)
            print(entry, flush=True)

        whole = [(days[0], days[-1])]
        backfill("in process, one run", 0, whole)
        backfill("Celery, one run (what a Dagster backfill launches)", 1, whole)
        for size in (math.ceil(len(days) / 2), args.chunk_days):
            for workers in (1, 2):
                backfill(f"Celery, runs of {size} days", workers, chunks(days, size))
        if args.per_day:
            backfill("Celery, one run per day", 2, chunks(days, 1))
        results["same_scores"] = all(
            c["differ"] == 0 for b in results["backfill"] for c in b["versus_reference"]
        )

        small = days[-1]
        with dg.DagsterInstance.get() as instance:
            for name, run_env, workers in (
                ("in process", in_process, 0),
                ("Celery", env, 1),
            ):
                with contextlib.ExitStack() as stack:
                    if workers:
                        stack.enter_context(celery_workers(["w1"], env, logs))
                    samples, before = [], load()
                    for _ in range(args.repeats):
                        shutil.rmtree(
                            home / "lake" / "anomaly_scores" / f"date={small}",
                            ignore_errors=True,
                        )
                        log = logs / "overhead.log"
                        t0 = time.perf_counter()
                        assert (
                            start_run(
                                run_env, "anomaly_scores", small, small, log
                            ).wait()
                            == 0
                        ), log.read_text()[-3000:]
                        process_s = time.perf_counter() - t0
                        run_id = log.read_text().strip().splitlines()[-1]
                        samples.append(
                            {"process_s": process_s, **step_timings(instance, run_id)}
                        )
                    median = {
                        k: round(statistics.median(s[k] for s in samples), 3)
                        for k in samples[0]
                    }
                    results["overhead"][name] = {
                        "median": median,
                        "samples": samples,
                        "load_before": before,
                        "load_after": load(),
                    }
                    print(name, median, flush=True)
        results["overhead_day"] = small
        results["overhead_readings"] = _readings(home, small)
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def _readings(home: Path, day: str | None = None) -> int:
    import duckdb

    glob = f"{home}/lake/sensor_readings/{f'date={day}' if day else '**'}/*.parquet"
    return int(
        duckdb.connect()
        .execute(f"SELECT count(*) FROM read_parquet('{glob}')")
        .fetchone()[0]
    )


def render(r: dict[str, Any], command: str) -> str:
    base = r["backfill"][0]["wall_s"]
    plant = (
        f"Plant: the pipeline benchmark's {r['readings']:,} readings ({r['equipment']} machines, {r['slots']:,} one-minute "
        f"slots), {r['days']} daily partitions {r['first_day']} .. {r['last_day']}; ingested and weekly models fitted "
        f"first (set-up, {r['set_up_s']} s, not timed). Instance: PostgreSQL (deploy/celery/dagster.yaml); broker: Redis; "
        "each worker a separate `celery worker` process running one step at a time. Every run is a fresh process, as "
        f"the run launcher starts it, at most {r['max_runs_in_flight']} at once."
    )
    how = (
        f"Wall: median of {r['backfill_repeats']} (all in benchmarks/distributed.json). CPU: seconds used by the runs' own "
        "processes (start-up, orchestration) and by the workers (the steps), from the kernel's accounting."
    )
    lines = [
        "## Distributed execution (Celery workers)",
        "",
        header(command),
        plant,
        "",
        "### Backfill of `anomaly_scores` over every day",
        "",
        how,
        "",
        "| variant | workers | runs | wall (s) | vs in process | CPU runs / workers (s) | same scores | load before / after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b in r["backfill"]:
        worst = max(b["versus_reference"], key=lambda c: c["differ"])
        same = (
            "yes"
            if worst["differ"] == 0
            else f"{worst['differ']:,} of {worst['rows']:,} differ (max {worst['max_abs_diff']:.1e}, "
            f"{worst['flips']} verdicts)"
        )
        cpu = (
            f"{b['cpu_runs_s']} / {b['cpu_workers_s']}"
            if b["workers"]
            else f"{b['cpu_runs_s']} (in the run)"
        )
        lines.append(
            f"| {b['variant']} | {b['workers'] or '-'} | {b['runs']} | {b['wall_s']} | x{b['wall_s'] / base:.2f} | {cpu} | "
            f"{same} | {b['load_before'][0]} / {b['load_after'][0]} |"
        )
    by_variant: dict[str, dict[int, dict]] = {}
    for b in r["backfill"]:
        if b["runs"] > 1:
            by_variant.setdefault(b["variant"], {})[b["workers"]] = b
    for variant, pair in by_variant.items():
        if 1 in pair and 2 in pair:
            lines.append(
                f"\nSpeed-up from 1 to 2 workers, {variant.removeprefix('Celery, ')}: "
                f"**x{pair[1]['wall_s'] / pair[2]['wall_s']:.2f}** ({pair[1]['wall_s']} s -> {pair[2]['wall_s']} s)."
            )
    reading = (
        "Reading it: the 2 cores of this machine are shared by everything above: the workers, each run's own "
        "process (a fresh Python that imports Dagster and the definitions: the 'CPU runs' column; in a real "
        "deployment it runs on the daemon's machine, not on a worker's) and other jobs (the load). Two workers "
        "can only beat one here when the steps are long next to the runs' start-up; on separate worker machines "
        "the steps' CPU (the 'workers' column) is what gets divided. A Dagster backfill of this asset is one run "
        "(backfill policy `single_run`), so one step on one worker whatever the number of workers: to use "
        "several, split the range into several runs."
    )
    lines += ["", reading]
    o = r["overhead"]
    ip, ce = o["in process"]["median"], o["Celery"]["median"]
    title = (
        f"### Overhead of one step (`anomaly_scores` of {r['overhead_day']}, {r['overhead_readings']:,} readings, "
        f"median of {len(o['Celery']['samples'])})"
    )
    in_process = (
        f"| in process | {ip['process_s']:.2f} | {ip['run_s']:.2f} | {ip['step_s']:.2f} | "
        f"start -> step {ip['to_step_s']:.2f}, step -> end {ip['after_step_s']:.2f} |"
    )
    celery = (
        f"| Celery | {ce['process_s']:.2f} | {ce['run_s']:.2f} | {ce['step_s']:.2f} | start -> submitted "
        f"{ce['to_submit_s']:.2f}, queue {ce['queue_s']:.2f}, worker set-up {ce['worker_setup_s']:.2f}, result back "
        f"{ce['result_back_s']:.2f} |"
    )
    overhead = (
        f"Distributed overhead per step: **{ce['run_s'] - ip['run_s']:+.2f} s** of run time "
        f"({ce['process_s'] - ip['process_s']:+.2f} s of the run's process)."
    )
    lines += [
        "",
        title,
        "",
        "| path | run process wall (s) | run (s) | the step itself (s) | where the rest goes |",
        "|---|---|---|---|---|",
        in_process,
        celery,
        "",
        overhead,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smart_maintenance_tests.distributed.benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--launch", nargs=3, metavar=("ASSET", "FIRST", "LAST"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--slots",
        type=int,
        default=50_000,
        help="one-minute slots per sensor (50,000: 5M readings)",
    )
    parser.add_argument("--equipment", type=int, default=20)
    parser.add_argument("--chunk-days", type=int, default=7)
    parser.add_argument(
        "--per-day", action="store_true", help="also one run per day (2 workers)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="runs of the one-step overhead measurement",
    )
    parser.add_argument(
        "--backfill-repeats",
        type=int,
        default=2,
        help="times each backfill variant is run (median)",
    )
    parser.add_argument(
        "--scratch",
        default=None,
        help="where the temp data root goes (default: the system temp dir)",
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--out", default=None, help="a markdown file to update (e.g. BENCHMARKS.md)"
    )
    parser.add_argument(
        "--json", default=str(REPO_ROOT / "benchmarks" / "distributed.json")
    )
    args = parser.parse_args(argv)
    if args.launch:
        return launch(*args.launch)
    command = "python -m smart_maintenance_tests.distributed.benchmark " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    results = measure(args)
    write_json(Path(args.json), results)
    body = render(results, command.strip())
    if args.out:
        update_section(Path(args.out), SECTION, body)
    print(body)
    return 0 if results["same_scores"] else 1


if __name__ == "__main__":
    sys.exit(main())
