"""Sensors: the landing folder (new files -> ingest runs) and the reference folder (edited CSVs ->
reference assets). Both are running by default."""


import hashlib
import json
import time

import dagster as dg

from smart_maintenance.defs.ingestion.jobs import ingest_landing_job
from smart_maintenance.defs.resources import DataRootResource, IngestSettingsResource
from smart_maintenance.ingest.landing import list_landing, plan_batch
from smart_maintenance.reference import FILES

MAX_FILES_PER_RUN = 500
FAILED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def _run_failed(instance: dg.DagsterInstance, run_key: str) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": run_key}), limit=1)
    return bool(runs) and runs[0].status in FAILED


@dg.sensor(job=ingest_landing_job, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches ingestion for files in landing/ once they stopped changing. A file is handed to "
                       "exactly one run; if that run fails, the file is handed out again.")
def landing_sensor(context: dg.SensorEvaluationContext, data_root: DataRootResource,
                   ingest_settings: IngestSettingsResource) -> dg.SensorResult:
    state = json.loads(context.cursor) if context.cursor else {}
    files = list_landing(data_root.get().landing)
    present = {f.relpath for f in files}
    launched = {rel: entry for rel, entry in state.get("launched", {}).items() if rel in present}
    seen = state.get("seen", {})
    for rel, entry in list(launched.items()):
        if _run_failed(context.instance, entry["run_key"]):
            context.log.warning(f"The run for {rel} failed; handing the file out again.")
            seen[rel] = launched.pop(rel)["obs"]  # it had settled already
    ready, seen = plan_batch(files, seen, {r: e["obs"] for r, e in launched.items()},
                             time.time_ns(), ingest_settings.settle_seconds, ingest_settings.quiet_seconds)
    seq = state.get("seq", 0)
    requests = []
    for start in range(0, len(ready), MAX_FILES_PER_RUN):
        chunk = ready[start:start + MAX_FILES_PER_RUN]
        seq += 1
        digest = hashlib.sha256(json.dumps([(f.relpath, f.observation) for f in chunk]).encode()).hexdigest()[:16]
        run_key = f"landing-{seq}-{digest}"
        requests.append(dg.RunRequest(
            run_key=run_key,
            run_config={"ops": {"ingest_landing_files": {"config": {"files": [f.relpath for f in chunk]}}}},
            tags={"smart_maintenance/files": str(len(chunk))},
        ))
        launched.update({f.relpath: {"obs": f.observation, "run_key": run_key} for f in chunk})
    return dg.SensorResult(run_requests=requests, cursor=json.dumps({"seq": seq, "seen": seen, "launched": launched}))


@dg.sensor(target=dg.AssetSelection.assets("equipment", "sensors", "technicians"), minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Refreshes the reference data assets when a file in reference/ changes.")
def reference_sensor(context: dg.SensorEvaluationContext, data_root: DataRootResource) -> dg.SensorResult:
    folder = data_root.get().reference
    stamps = {name: (folder / f).stat().st_mtime_ns if (folder / f).exists() else 0 for name, f in FILES.items()}
    previous = json.loads(context.cursor) if context.cursor else None
    requests = [] if stamps == previous else [dg.RunRequest(run_key=f"reference-{hash(tuple(stamps.values()))}")]
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(stamps))


SENSORS = [landing_sensor, reference_sensor]
