"""Where the steps of a run execute: in the run's own process (the default) or on Celery workers.

`SMART_MAINTENANCE_EXECUTOR=celery` sends every step to Celery workers (dagster-celery) through the
broker at `SMART_MAINTENANCE_CELERY_BROKER` (Redis or RabbitMQ); the result backend is
`SMART_MAINTENANCE_CELERY_BACKEND`, else the broker itself when it is Redis, else Celery's `rpc://`.
The workers run `celery -A smart_maintenance.defs.executor worker`: the app below is built from the
same variables and settings as the run side, so the two cannot disagree on the broker, the result
backend or the delivery rules. Deployment: deploy/celery/ and the README's "Scale-out" section.

Our assets write the lake themselves and return `MaterializeResult`, so nothing passes between steps
through an IO manager: a worker needs the instance database (DAGSTER_HOME), the data root
(SMART_MAINTENANCE_HOME) and this code, nothing from the process that launched the run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

EXECUTOR_ENV = "SMART_MAINTENANCE_EXECUTOR"
BROKER_ENV = "SMART_MAINTENANCE_CELERY_BROKER"
BACKEND_ENV = "SMART_MAINTENANCE_CELERY_BACKEND"
EXECUTORS = ("in_process", "celery")

# Celery settings shared by the run side and the workers (dagster-celery adds its own defaults: queue
# "dagster", prefetch multiplier 1, priorities).
CELERY_SETTINGS: dict[str, Any] = {
    # A step is acknowledged when it ends, not when it starts: a busy worker then holds no second step
    # it cannot start (with early acks it prefetches one while another worker idles), and the step of a
    # worker that dies mid-step stays in the broker, which hands it to another worker (Redis: after its
    # visibility timeout) instead of losing it. Steps are idempotent (whole-partition atomic writes,
    # per-partition locks), so a step delivered twice is safe.
    "task_acks_late": True,
    "broker_connection_retry_on_startup": True,
}


def executor_name(environ: Mapping[str, str] = os.environ) -> str:
    name = (environ.get(EXECUTOR_ENV) or "in_process").strip().lower().replace("-", "_")
    if name not in EXECUTORS:
        raise ValueError(
            f"{EXECUTOR_ENV}={environ.get(EXECUTOR_ENV)!r}: expected one of {', '.join(EXECUTORS)}"
        )
    return name


def executor_from_env(environ: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    """The executor of every job: `in_process_executor` unless SMART_MAINTENANCE_EXECUTOR=celery."""
    if executor_name(environ) == "in_process":
        # Steps run in the run's own process: our runs are one or two steps, and a subprocess per step
        # would add ~2 s of latency to every micro-batch.
        return dg.in_process_executor
    _broker(environ)  # fail when the definitions load, not when the first run starts
    from dagster_celery import celery_executor

    # Broker and backend stay references to the variables (resolved in the run's process): a password in
    # the URL never ends up in a job snapshot.
    return celery_executor.configured(
        {
            "broker": {"env": BROKER_ENV},
            "backend": _backend_source(environ),
            "config_source": CELERY_SETTINGS,
        },
        name="celery",
    )


def _broker(environ: Mapping[str, str]) -> str:
    broker = environ.get(BROKER_ENV, "").strip()
    if not broker:
        raise ValueError(
            f"{EXECUTOR_ENV}=celery needs {BROKER_ENV} (e.g. redis://127.0.0.1:6379/0 or "
            "amqp://user:password@host:5672//)"
        )
    return broker


def _backend_source(environ: Mapping[str, str]) -> dict[str, str] | str:
    if environ.get(BACKEND_ENV, "").strip():
        return {"env": BACKEND_ENV}
    if _broker(environ).startswith(("redis://", "rediss://")):
        return {"env": BROKER_ENV}
    return "rpc://"


def _backend(environ: Mapping[str, str]) -> str:
    source = _backend_source(environ)
    return environ[source["env"]].strip() if isinstance(source, dict) else source


def worker_app(environ: Mapping[str, str] = os.environ):
    """The Celery app of the workers: dagster-celery's step task, with the run side's settings."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    executor = CeleryExecutor.for_cli(
        broker=_broker(environ),
        backend=_backend(environ),
        config_source=CELERY_SETTINGS,
    )
    app = make_app(executor.app_args())
    create_task(app)
    return app


def __getattr__(name: str):
    # `celery -A smart_maintenance.defs.executor` looks up `app`; built on first use only, so loading the
    # definitions never needs a broker.
    if name == "app":
        globals()["app"] = app = worker_app()
        return app
    raise AttributeError(name)
