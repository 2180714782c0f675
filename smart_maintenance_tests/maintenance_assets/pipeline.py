"""Running the maintenance assets and the decide_request job on a data root, one asset per run: the
project's Definitions plus the maintenance ones, in process, on the data root's own instance."""

from __future__ import annotations

import time

import dagster as dg
import pandas as pd

from smart_maintenance.config import DataRoot
from smart_maintenance.definitions import build_defs
from smart_maintenance.defs.maintenance import ASSETS, CHECKS, JOBS, RESOURCES, STEPS, MaintenanceResource
from smart_maintenance.defs.staleness import stale
from smart_maintenance.runner import instance_for

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
FAST = {"time_limit_seconds": 5.0}  # the plans here are tiny; CP-SAT proves them optimal in well under a second


def definitions(root: DataRoot, **resources) -> dg.Definitions:
    """build_defs(root) + the maintenance assets, checks, jobs and resources (overridden by `resources`)."""
    mine = {**RESOURCES, "maintenance": MaintenanceResource(**FAST), **resources}
    base = build_defs(str(root.root))
    # works before and after definitions.py lists the maintenance definitions itself
    wired = dg.AssetKey("maintenance_requests") in base.resolve_asset_graph().get_all_asset_keys()
    return dg.Definitions(
        assets=[*base.assets, *([] if wired else ASSETS)], asset_checks=[*(base.asset_checks or []), *([] if wired else CHECKS)],
        jobs=[*base.jobs, *([] if wired else JOBS)], sensors=base.sensors, schedules=base.schedules,
        executor=base.executor, resources={**base.resources, **mine})


def refresh_all(root: DataRoot, **resources) -> list[tuple[str, dg.ExecuteInProcessResult]]:
    """Requests, schedule and outbox, in that order, each in its own run when it never ran or an input was
    materialized after it (the rule runner.downstream_plan applies); returns the runs it made."""
    defs = definitions(root, **resources)
    job = defs.resolve_implicit_global_asset_job_def()
    runs = []
    with instance_for(root) as instance:
        for _, key, deps in STEPS:
            if stale(instance, key, deps):
                runs.append((key, job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(key)],
                                                         run_config=QUIET, raise_on_error=False)))
    return runs


def materialize(root: DataRoot, key: str, **resources) -> dg.ExecuteInProcessResult:
    defs = definitions(root, **resources)
    with instance_for(root) as instance:
        return defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(key)], run_config=QUIET, raise_on_error=False)


def decide(root: DataRoot, decision: dict, **resources) -> dg.ExecuteInProcessResult:
    """The decide_request job with `decision` as its launchpad config."""
    defs = definitions(root, **resources)
    with instance_for(root) as instance:
        return defs.resolve_job_def("decide_request").execute_in_process(
            instance=instance, run_config={"ops": {"apply_decision": {"config": decision}}, **QUIET}, raise_on_error=False)


def table(root: DataRoot, dataset: str) -> pd.DataFrame:
    path = root.lake / dataset / "data.parquet"
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def materialization_metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def check_passed(root: DataRoot, asset: str, check: str) -> bool:
    with instance_for(root) as instance:
        key = dg.AssetCheckKey(dg.AssetKey(asset), check)
        execution = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        return execution.status.value == "SUCCEEDED"


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)


def automation_tick(root: DataRoot, cursor=None, **resources) -> tuple[set[str], object]:
    """One evaluation of the declarative automation (what the daemon's micro_batch_automation does):
    the asset keys it would launch, and the cursor for the next tick."""
    defs = definitions(root, **resources)
    with instance_for(root) as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    keys = {k.to_user_string() for a in defs.resolve_asset_graph().get_all_asset_keys() for k in [a]
            if result.get_num_requested(k)}
    return keys, result.cursor
