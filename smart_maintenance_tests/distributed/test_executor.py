"""The executor switch (smart_maintenance/defs/executor.py), without any server."""

from __future__ import annotations

import dagster as dg
import pytest

from smart_maintenance.definitions import build_defs
from smart_maintenance.defs import executor


def test_steps_run_in_process_unless_celery_is_asked_for() -> None:
    assert executor.executor_from_env({}) is dg.in_process_executor
    assert (
        executor.executor_from_env({"SMART_MAINTENANCE_EXECUTOR": "in-process"})
        is dg.in_process_executor
    )


def test_celery_executor_reads_broker_and_backend_from_the_environment() -> None:
    redis = {
        "SMART_MAINTENANCE_EXECUTOR": "celery",
        "SMART_MAINTENANCE_CELERY_BROKER": "redis://127.0.0.1:6390/0",
    }
    assert executor.executor_from_env(redis).name == "celery"
    assert executor._backend_source(redis) == {
        "env": "SMART_MAINTENANCE_CELERY_BROKER"
    }  # Redis is its own backend
    rabbit = {
        "SMART_MAINTENANCE_EXECUTOR": "celery",
        "SMART_MAINTENANCE_CELERY_BROKER": "amqp://u:p@mq:5672//",
    }
    assert executor._backend_source(rabbit) == "rpc://"
    chosen = rabbit | {"SMART_MAINTENANCE_CELERY_BACKEND": "redis://cache:6379/1"}
    assert executor._backend_source(chosen) == {
        "env": "SMART_MAINTENANCE_CELERY_BACKEND"
    }


def test_misconfiguration_fails_when_the_definitions_load() -> None:
    with pytest.raises(ValueError, match="needs SMART_MAINTENANCE_CELERY_BROKER"):
        executor.executor_from_env({"SMART_MAINTENANCE_EXECUTOR": "celery"})
    with pytest.raises(ValueError, match="expected one of in_process, celery"):
        executor.executor_from_env({"SMART_MAINTENANCE_EXECUTOR": "dask"})


def test_every_job_gets_the_chosen_executor(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SMART_MAINTENANCE_EXECUTOR", "celery")
    monkeypatch.setenv("SMART_MAINTENANCE_CELERY_BROKER", "redis://127.0.0.1:6390/0")
    defs = build_defs(str(tmp_path))
    assert defs.resolve_job_def("ingest_landing").executor_def.name == "celery"
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "celery"


def test_the_workers_app_has_the_step_task_and_the_run_sides_settings() -> None:
    app = executor.worker_app(
        {"SMART_MAINTENANCE_CELERY_BROKER": "redis://127.0.0.1:6390/0"}
    )
    assert "execute_plan" in app.tasks
    assert app.conf.broker_url == "redis://127.0.0.1:6390/0"
    assert app.conf.result_backend == "redis://127.0.0.1:6390/0"
    assert app.conf.task_acks_late is True and app.conf.worker_prefetch_multiplier == 1
    assert [q.name for q in app.conf.task_queues] == ["dagster"]
