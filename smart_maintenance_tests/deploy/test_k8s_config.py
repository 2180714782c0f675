"""deploy/k8s/: the Helm values validate against the Dagster chart's schema, the dagster.yaml / workspace /
container context the chart renders from them load with Dagster's and dagster-k8s' own config types, and
the values keep secrets out, telemetry off and images pinned. Offline: no helm, no cluster (chart.py)."""

from __future__ import annotations

import copy
import hashlib
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from smart_maintenance_tests.deploy import chart

RELEASE = "smart-maintenance"
NAMESPACE = "smart-maintenance"
S3_SECRET = "smart-maintenance-s3"
PG_SECRET = "smart-maintenance-postgresql"


@pytest.fixture
def values() -> dict[str, Any]:
    return chart.load_values()


@pytest.fixture
def instance(values) -> dict[str, Any]:
    return chart.render_instance(values, RELEASE, NAMESPACE)


@pytest.fixture
def pg_password(monkeypatch):
    # In the cluster every Dagster pod gets DAGSTER_PG_PASSWORD from the PostgreSQL Secret.
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "only-in-the-test")


def _deployment(values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def _process(section: dict[str, Any]):
    """Dagster's own check of a configurable-class section: the class it names, its config processed
    against that class's config type (as the instance does when it loads the section)."""
    from dagster._config import process_config
    from dagster._serdes.config_class import ConfigurableClassData

    data = ConfigurableClassData(
        section["module"], section["class"], yaml.safe_dump(section.get("config") or {})
    )
    klass = getattr(importlib.import_module(data.module_name), data.class_name)
    return data, klass, process_config(klass.config_type(), section.get("config") or {})


# ------------------------------------------------------------------------------------- chart schema


def test_vendored_schema_is_the_chart_schema():
    schema = chart.load_schema()
    assert schema["title"] == "DagsterHelmValues"
    digest = hashlib.sha256(chart.SCHEMA.read_bytes()).hexdigest()
    note = (chart.SCHEMA.parent / "README.md").read_text()
    assert re.search(r"commit\s+`([0-9a-f]{40})`", note), (
        "the note names the source commit"
    )
    assert digest in note, (
        "values.schema.json changed: update deploy/k8s/schema/README.md (source, sha256)"
    )


def test_values_validate_against_the_chart_schema(values):
    assert chart.schema_errors(values) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ("runLauncher", "config", "k8sRunLauncher", "imagePullPolicyy"),
            "IfNotPresent",
            "imagePullPolicyy",
        ),
        (
            ("runLauncher", "config", "k8sRunLauncher", "loadInclusterConfig"),
            "yes",
            "'yes' is not of type 'boolean'",
        ),
        (("runLauncher", "type"), "KubernetesRunLauncher", "is not one of"),
        (
            (
                "dagsterDaemon",
                "runCoordinator",
                "config",
                "queuedRunCoordinator",
                "maxConcurrentRuns",
            ),
            "four",
            "maxConcurrentRuns",
        ),
        (("telemetry", "enabled"), "false", "'false' is not of type 'boolean'"),
        # A Kubernetes type from the chart schema's external definitions: a typo in a Secret reference.
        (
            ("runLauncher", "config", "k8sRunLauncher", "envSecrets"),
            [{"name": S3_SECRET, "optionl": True}],
            "optionl",
        ),
        (
            ("runLauncher", "config", "k8sRunLauncher", "securityContext"),
            {"runAsNonRoot": "true"},
            "'true' is not of type 'boolean'",
        ),
    ],
)
def test_schema_rejects_broken_values(values, path, value, expected):
    broken = copy.deepcopy(values)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    errors = chart.schema_errors(broken)
    assert any(expected in error for error in errors), errors


def test_schema_requires_what_a_code_location_needs(values):
    broken = copy.deepcopy(values)
    del _deployment(broken)["port"]
    assert any(
        "'port' is a required property" in error
        for error in chart.schema_errors(broken)
    )


# ----------------------------------------------------------------- rendered instance, Dagster's config


def test_rendered_dagster_yaml_loads_with_dagsters_instance_schema(instance, tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance, sort_keys=False))
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["telemetry"] == {"enabled": False}
    assert config["retention"]["sensor"]["purge_after_days"]["skipped"] == 7


def test_rendered_sections_validate_against_their_classes(instance, pg_password):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    expected = {
        "run_launcher": K8sRunLauncher,
        "run_coordinator": QueuedRunCoordinator,
        "run_storage": PostgresRunStorage,
        "event_log_storage": PostgresEventLogStorage,
        "schedule_storage": PostgresScheduleStorage,
    }
    for key, klass in expected.items():
        _, loaded, result = _process(instance[key])
        assert loaded is klass, key
        assert result.success, (key, [e.message for e in result.errors])

    storage = _process(instance["run_storage"])[2].value["postgres_db"]
    # The password comes from the environment, never from the file.
    assert storage["password"] == "only-in-the-test"
    assert (storage["scheme"], storage["port"], storage["db_name"]) == (
        "postgresql+psycopg2",
        5432,
        "dagster",
    )

    coordinator = _process(instance["run_coordinator"])[0].rehydrate()
    assert isinstance(coordinator, QueuedRunCoordinator)
    assert coordinator.get_run_queue_config().max_concurrent_runs == 4
    limits = {
        (limit["key"], limit.get("value")): limit["limit"]
        for limit in coordinator.get_run_queue_config().tag_concurrency_limits
    }
    assert limits == {
        ("smart_maintenance/stage", "ingest"): 1,
        ("dagster/backfill", None): 2,
    }


def test_k8s_run_launcher_builds_from_the_rendered_config(
    instance, pg_password, monkeypatch
):
    import dagster_k8s.launcher
    from dagster_k8s import K8sRunLauncher

    # No cluster here: skip only the kube-config loading, everything else is K8sRunLauncher's own code.
    monkeypatch.setattr(
        dagster_k8s.launcher, "load_kubernetes_config", lambda **_: None
    )
    launcher = _process(instance["run_launcher"])[0].rehydrate()
    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.job_namespace == NAMESPACE
    assert launcher.postgres_password_secret == PG_SECRET
    assert launcher.instance_config_map == f"{RELEASE}-dagster-instance"
    assert launcher.env_secrets == [S3_SECRET]
    assert launcher.image_pull_policy == "IfNotPresent"
    assert launcher.fail_pod_on_run_failure is True
    assert launcher.resources["limits"]["memory"] == "6Gi"


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        (
            "run_launcher",
            "job_namespac",
            "typo",
            'unexpected config entry "job_namespac"',
        ),
        ("run_launcher", "load_incluster_config", "yes", "root:load_incluster_config"),
        ("run_coordinator", "max_concurrent_runs", "four", "root:max_concurrent_runs"),
        (
            "run_storage",
            "postgres_db",
            {
                "hostname": "db",
                "username": "u",
                "password": "p",
                "db_name": "d",
                "port": "not-a-port",
            },
            "root:postgres_db:port",
        ),
    ],
)
def test_dagster_rejects_broken_sections(
    instance, pg_password, section, key, value, expected
):
    broken = copy.deepcopy(instance)
    broken[section]["config"][key] = value
    result = _process(broken[section])[2]
    assert not result.success
    assert any(expected in error.message for error in result.errors), [
        e.message for e in result.errors
    ]


@pytest.mark.parametrize(
    "breakage",
    [
        # a wrong type, an unknown section, a section without its class
        {"telemetry": {"enabled": "no"}},
        {
            "run_launchr": {
                "module": "dagster_k8s",
                "class": "K8sRunLauncher",
                "config": {},
            }
        },
        {"run_coordinator": {"module": "dagster.core.run_coordinator", "config": {}}},
    ],
)
def test_dagster_rejects_a_broken_instance_document(instance, tmp_path, breakage):
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({**instance, **breakage}))
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(tmp_path))


def test_run_k8s_config_is_valid_kubernetes(values, instance):
    from dagster_k8s.models import k8s_snake_case_dict
    from kubernetes.client import V1Container, V1JobSpec, V1ObjectMeta, V1PodSpec

    models = {
        "container_config": V1Container,
        "pod_spec_config": V1PodSpec,
        "job_spec_config": V1JobSpec,
        "pod_template_spec_metadata": V1ObjectMeta,
        "job_metadata": V1ObjectMeta,
    }
    run_k8s_config = instance["run_launcher"]["config"]["run_k8s_config"]
    for key, part in run_k8s_config.items():
        # What dagster-k8s does with each part when it builds the Job.
        k8s_snake_case_dict(models[key], part)
    assert (
        k8s_snake_case_dict(V1JobSpec, run_k8s_config["job_spec_config"])[
            "ttl_seconds_after_finished"
        ]
        == 86400
    )

    # The chart schema only knows these are objects; dagster-k8s catches a typo inside them.
    broken = copy.deepcopy(values)
    broken["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"][
        "jobSpecConfig"
    ] = {"ttlSecondsAfterFinish": 1}
    assert chart.schema_errors(broken) == []
    part = chart.render_instance(broken, RELEASE, NAMESPACE)["run_launcher"]["config"][
        "run_k8s_config"
    ]
    with pytest.raises(Exception, match="Unexpected keys"):
        k8s_snake_case_dict(V1JobSpec, part["job_spec_config"])


def test_run_pods_get_the_data_root_the_credentials_and_run_sized_resources(
    values, instance, pg_password, monkeypatch
):
    """What a run pod gets: the run launcher's settings merged with the code location's container context,
    as K8sContainerContext.create_for_run does (the location's values win)."""
    import dagster_k8s.launcher
    from dagster_k8s.container_context import K8sContainerContext

    monkeypatch.setattr(
        dagster_k8s.launcher, "load_kubernetes_config", lambda **_: None
    )
    launcher = _process(instance["run_launcher"])[0].rehydrate()
    context = chart.render_container_context(
        values, _deployment(values), RELEASE, NAMESPACE
    )
    # dagster-k8s validates the container context here.
    location = K8sContainerContext.create_from_config(context)
    run = K8sContainerContext(
        image_pull_policy=launcher.image_pull_policy,
        env_config_maps=launcher.env_config_maps,
        env_secrets=launcher.env_secrets,
        env_vars=launcher.env_vars,
        namespace=launcher.job_namespace,
        resources=launcher.resources,
        security_context=launcher.security_context,
        service_account_name=launcher.service_account_name,
    ).merge(location)

    container = run.run_k8s_config.container_config
    env_from = [next(iter(ref.values()))["name"] for ref in container["env_from"]]
    # SMART_MAINTENANCE_HOME is in the location's user-env ConfigMap; the S3 keys are in the Secret.
    assert f"{RELEASE}-dagster-user-deployments-smart-maintenance-user-env" in env_from
    assert env_from.count(S3_SECRET) == 1
    assert container["resources"]["limits"]["memory"] == "6Gi", (
        "the code location must not shrink run pods"
    )
    # dagster-k8s snake-cases the keys.
    assert container["security_context"]["run_as_non_root"] is True
    assert run.namespace == NAMESPACE
    assert _deployment(values)["includeConfigInLaunchedRuns"]["enabled"] is True
    assert _deployment(values)["env"]["SMART_MAINTENANCE_HOME"].startswith("s3://")


def test_workspace_loads_our_code_location(values):
    import dagster as dg
    from dagster._cli.api import grpc_command
    from dagster._core.workspace.config_schema import process_workspace_config

    workspace = chart.render_workspace(values)
    assert process_workspace_config(workspace).success
    (server,) = [entry["grpc_server"] for entry in workspace["load_from"]]
    deployment = _deployment(values)
    # The chart starts: dagster api grpc -h 0.0.0.0 -p PORT <dagsterApiGrpcArgs>; parse it as dagster would.
    args = [
        "-h",
        "0.0.0.0",
        "-p",
        str(server["port"]),
        *deployment["dagsterApiGrpcArgs"],
    ]
    params = grpc_command.make_context("grpc", args).params
    assert (params["module_name"], params["attribute"]) == (
        "smart_maintenance.definitions",
        "defs",
    )
    module = importlib.import_module(params["module_name"])
    assert isinstance(getattr(module, params["attribute"]), dg.Definitions)


# ------------------------------------------------------------------------------ security properties


def test_no_secret_is_inline(values):
    assert chart.inline_secrets(values) == []
    assert values["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in values["postgresql"]
    assert values["global"]["postgresqlSecretName"] == PG_SECRET
    assert values["postgresql"]["enabled"] is False
    assert _deployment(values)["envSecrets"] == [{"name": S3_SECRET}]


@pytest.mark.parametrize(
    "leak",
    [
        lambda v: v["postgresql"].update(postgresqlPassword="hunter2"),
        lambda v: _deployment(v)["env"].update(
            AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG"
        ),
        lambda v: _deployment(v)["env"].update(S3_KEY_ID="AKIAIOSFODNN7EXAMPLE"),
        lambda v: v["runLauncher"]["config"]["k8sRunLauncher"]["envVars"].append(
            "AWS_SECRET_ACCESS_KEY=abc"
        ),
        lambda v: v["dagsterDaemon"].update(
            env=[{"name": "SMART_MAINTENANCE_SMTP_PASSWORD", "value": "x"}]
        ),
    ],
)
def test_inline_secrets_are_caught(values, leak):
    leaky = copy.deepcopy(values)
    leak(leaky)
    assert chart.inline_secrets(leaky)


def test_telemetry_is_off(values, instance):
    assert values["telemetry"] == {"enabled": False}
    assert instance["telemetry"] == {"enabled": False}


def test_images_are_pinned_and_match_the_dockerfile(values):
    image = _deployment(values)["image"]
    assert image["tag"] and str(image["tag"]).lower() != "latest"
    assert image["pullPolicy"] == "IfNotPresent"
    assert (
        values["runLauncher"]["config"]["k8sRunLauncher"]["imagePullPolicy"]
        == "IfNotPresent"
    )
    assert ":latest" not in chart.VALUES.read_text()

    dockerfile = chart.DOCKERFILE.read_text()
    base = re.search(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE).group(1)
    assert base.startswith("python:3.11-") and not base.endswith(":latest")
    assert (
        "COPY requirements.lock" in dockerfile
        and "pip install -r requirements.lock" in dockerfile
    )
    uid = re.search(r"^USER\s+(\d+)", dockerfile, re.MULTILINE).group(1)
    assert _deployment(values)["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["runLauncher"]["config"]["k8sRunLauncher"]["securityContext"][
        "runAsUser"
    ] == int(uid)
    home = re.search(r"DAGSTER_HOME=(\S+)", dockerfile).group(1)
    assert values["global"]["dagsterHome"] == home


def test_chart_version_is_the_locked_dagster_version():
    import dagster

    lock = (chart.REPO / "requirements.lock").read_text()
    assert f"dagster=={dagster.__version__}" in lock.splitlines()
    # The image needs both integrations the chart's dagster.yaml names.
    assert re.search(r"^dagster-k8s==", lock, re.MULTILINE) and re.search(
        r"^dagster-postgres==", lock, re.MULTILINE
    )
    for doc in (chart.VALUES, chart.REPO / "README.md"):
        versions = set(re.findall(r"dagster/dagster --version (\S+)", doc.read_text()))
        assert versions == {dagster.__version__}, (doc.name, versions)


def test_paths_exist():
    for path in (
        chart.VALUES,
        chart.SCHEMA,
        chart.DOCKERFILE,
        chart.K8S_DIR / "Dockerfile.dockerignore",
    ):
        assert Path(path).is_file(), path
