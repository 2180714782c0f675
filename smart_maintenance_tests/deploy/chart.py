"""What the Dagster Helm chart does with deploy/k8s/values.yaml, redone in Python so tests run offline.

Before anything reaches a cluster, Helm
- validates the values, merged over the chart's defaults, against the chart's `values.schema.json`
  (vendored in deploy/k8s/schema/, see its README for the version);
- renders templates: the instance ConfigMap (`dagster.yaml`), the webserver's `workspace.yaml` and, per
  code location, the container context that run pods inherit.

`schema_errors` does the first; `render_instance`, `render_workspace` and `render_container_context`
follow the chart's templates for the sections our values drive (templates/configmap-instance.yaml;
templates/helpers/instance/_run-launcher.tpl, _run-coordinator.tpl, _postgresql.tpl;
templates/helpers/_helpers.tpl; templates/configmap-workspace.yaml; the dagster-user-deployments
subchart's `k8sContainerContext` helper). The rest of the ConfigMap (scheduler, compute logs, run
monitoring, ...) comes from chart defaults that values.yaml does not touch, and is not rendered here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S_DIR = REPO / "deploy" / "k8s"
VALUES = K8S_DIR / "values.yaml"
SCHEMA = K8S_DIR / "schema" / "values.schema.json"
DOCKERFILE = K8S_DIR / "Dockerfile"

CHART_NAME = "dagster"
SUBCHART_NAME = "dagster-user-deployments"
# The chart's schema refers to Kubernetes types at this URL; it is never fetched (kubernetes_definitions).
K8S_DEFINITIONS_URL = "https://kubernetesjsonschema.dev/v1.18.0/_definitions.json"
# Chart defaults the rendered sections depend on when values.yaml leaves them unset.
CHART_DEFAULT_DAGSTER_HOME = "/opt/dagster/dagster_home"

# Parts of values.yaml we spell out completely: validated with the schema's `required` lists as well.
OWNED_SUBTREES = {
    ("runLauncher",): "RunLauncher",
    ("dagsterDaemon", "runCoordinator"): "RunCoordinator",
    ("telemetry",): "Telemetry",
    ("retention",): "Retention",
}


def load_values(path: Path = VALUES) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def load_schema(path: Path = SCHEMA) -> dict[str, Any]:
    import json

    return json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------- schema


def kubernetes_definitions(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The Kubernetes definitions the chart schema refers to, built from the `kubernetes` client's models
    (attribute names and OpenAPI types), each object closed to unknown fields."""
    import kubernetes.client

    definitions: dict[str, Any] = {}

    def model(class_name: str) -> dict[str, Any]:
        if class_name not in definitions:
            klass = getattr(kubernetes.client, class_name)
            # A placeholder while its fields refer back to it.
            definitions[class_name] = {}
            properties = {
                klass.attribute_map[attr]: type_schema(openapi_type)
                for attr, openapi_type in klass.openapi_types.items()
            }
            definitions[class_name] = {
                "type": "object",
                "properties": properties,
                "additionalProperties": False,
            }
        return {"$ref": f"#/definitions/{class_name}"}

    def type_schema(openapi_type: str) -> dict[str, Any]:
        if match := re.fullmatch(r"list\[(.+)\]", openapi_type):
            return {"type": "array", "items": type_schema(match.group(1))}
        if match := re.fullmatch(r"dict[\[(]str, (.+)[\])]", openapi_type):
            return {
                "type": "object",
                "additionalProperties": type_schema(match.group(1)),
            }
        primitive = {
            "str": "string",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
        }
        if openapi_type in primitive:
            return {"type": primitive[openapi_type]}
        if openapi_type in ("datetime", "date"):
            return {"type": "string"}
        if openapi_type == "object":  # IntOrString, Quantity, RawExtension: anything
            return {}
        return model(openapi_type)

    for ref in _refs(schema):
        if ref.startswith(K8S_DEFINITIONS_URL + "#/definitions/"):
            # e.g. io.k8s.api.core.v1.PodSpec, or io.k8s.api.core.v1.PodSpec/properties/nodeSelector
            name = ref.split("#/definitions/", 1)[1].split("/", 1)[0]
            model("V1" + name.rsplit(".", 1)[1])
            definitions[name] = definitions["V1" + name.rsplit(".", 1)[1]]
    return {"definitions": definitions}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _without_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _without_required(v)
            for k, v in node.items()
            if not (k == "required" and isinstance(v, list))
        }
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


def schema_errors(
    values: Mapping[str, Any], schema: Mapping[str, Any] | None = None
) -> list[str]:
    """Why Helm would refuse these values, as `path: message` lines (empty: valid).

    values.yaml is an override file: Helm merges it over the chart's defaults and validates the result.
    Without those defaults at hand, every key we set must exist in the schema with the right type (the
    schema closes most objects with `additionalProperties: false`, so typos fail), and the parts we spell
    out completely (OWNED_SUBTREES, each code location) must also have every required field. Draft 7, as
    the schema is written: a `$ref` replaces its siblings.
    """
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import best_match
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    schema = load_schema() if schema is None else schema
    registry = Registry().with_resource(
        K8S_DEFINITIONS_URL,
        Resource.from_contents(
            kubernetes_definitions(schema), default_specification=DRAFT7
        ),
    )

    def check(instance: Any, against: Mapping[str, Any], prefix: tuple) -> list[str]:
        validator = Draft7Validator(against, registry=registry)
        # For an `anyOf` (a field or null, ...) report the branch's own error, not "not valid under any".
        errors = [best_match([error]) for error in validator.iter_errors(instance)]
        return sorted(
            f"{'/'.join(map(str, prefix + tuple(e.absolute_path))) or '(root)'}: {e.message}"
            for e in errors
        )

    errors = check(values, _without_required(schema), ())
    owned = [
        (path, name)
        for path, name in OWNED_SUBTREES.items()
        if _get(values, path) is not None
    ]
    deployments = (values.get(SUBCHART_NAME) or {}).get("deployments") or []
    owned += [
        ((SUBCHART_NAME, "deployments", i), "UserDeployment")
        for i in range(len(deployments))
    ]
    for path, name in owned:
        errors += check(
            _get(values, path),
            {"$ref": f"#/definitions/{name}", "definitions": schema["definitions"]},
            path,
        )
    return errors


def _get(values: Any, path: tuple) -> Any:
    for key in path:
        if isinstance(values, Mapping):
            values = values.get(key)
        elif isinstance(values, list) and isinstance(key, int) and key < len(values):
            values = values[key]
        else:
            return None
    return values


# -------------------------------------------------------------------------------------------- rendering


def fullname(
    release: str, chart_name: str, values: Mapping[str, Any], global_: Mapping[str, Any]
) -> str:
    """`dagster.fullname`: the release name, suffixed with the chart's name unless it already contains it."""
    override = global_.get("fullnameOverride") or values.get("fullnameOverride")
    if override:
        return override[:63].rstrip("-")
    name = global_.get("nameOverride") or values.get("nameOverride") or chart_name
    return (release if name in release else f"{release}-{name}")[:63].rstrip("-")


def postgresql_secret_name(values: Mapping[str, Any], release: str) -> str:
    secret = (values.get("global") or {}).get("postgresqlSecretName")
    return (
        secret
        or f"{fullname(release, CHART_NAME, values, values.get('global') or {})}-postgresql-secret"
    )


def _postgres_config(values: Mapping[str, Any], release: str) -> dict[str, Any]:
    """`dagsterYaml.postgresql.config`: the same block under run, event log and schedule storage."""
    pg = values["postgresql"]
    host = (
        pg["postgresqlHost"]
        if not pg["enabled"]
        else pg.get("postgresqlHost") or f"{release}-postgresql"
    )
    db = {
        "username": pg["postgresqlUsername"],
        # Every chart pod gets DAGSTER_PG_PASSWORD from the PostgreSQL Secret.
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": host,
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams") or {},
    }
    if pg.get("postgresqlScheme"):
        db["scheme"] = pg["postgresqlScheme"]
    return {"postgres_db": db}


def _names(refs: list[Mapping[str, Any]] | None) -> list[str]:
    return [ref["name"] for ref in refs or [] if "name" in ref]


def _k8s_run_launcher(
    values: Mapping[str, Any], release: str, namespace: str
) -> dict[str, Any]:
    """`dagsterYaml.runLauncher.k8s`."""
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    global_ = values.get("global") or {}
    name = fullname(release, CHART_NAME, values, global_)
    config: dict[str, Any] = {"load_incluster_config": k8s["loadInclusterConfig"]}
    if k8s.get("kubeconfigFile"):
        config["kubeconfig_file"] = k8s["kubeconfigFile"]
    config["job_namespace"] = k8s.get("jobNamespace") or namespace
    config["image_pull_policy"] = k8s["imagePullPolicy"]
    if values.get("imagePullSecrets"):
        config["image_pull_secrets"] = values["imagePullSecrets"]
    service_account = (values.get("serviceAccount") or {}).get("name")
    config["service_account_name"] = (
        global_.get("serviceAccountName") or service_account or name
    )
    if "image" in k8s:
        config["job_image"] = f"{k8s['image']['repository']}:{k8s['image']['tag']}"
    config["dagster_home"] = global_.get("dagsterHome") or CHART_DEFAULT_DAGSTER_HOME
    config["instance_config_map"] = f"{name}-instance"
    config["postgres_password_secret"] = postgresql_secret_name(values, release)
    if k8s.get("envConfigMaps"):
        config["env_config_maps"] = _names(k8s["envConfigMaps"])
    if k8s.get("envSecrets"):
        config["env_secrets"] = _names(k8s["envSecrets"])
    for key, target in [
        ("envVars", "env_vars"),
        ("volumeMounts", "volume_mounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
    ]:
        if k8s.get(key):
            config[target] = k8s[key]
    if k8s.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    if k8s.get("schedulerName"):
        config["scheduler_name"] = k8s["schedulerName"]
    if k8s.get("securityContext"):
        config["security_context"] = k8s["securityContext"]
    if k8s.get("runK8sConfig"):
        run = k8s["runK8sConfig"]
        config["run_k8s_config"] = {
            target: run[key]
            for key, target in [
                ("containerConfig", "container_config"),
                ("podSpecConfig", "pod_spec_config"),
                ("podTemplateSpecMetadata", "pod_template_spec_metadata"),
                ("jobSpecConfig", "job_spec_config"),
                ("jobMetadata", "job_metadata"),
            ]
            if run.get(key)
        }
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _queued_run_coordinator(values: Mapping[str, Any]) -> dict[str, Any]:
    """`dagsterYaml.runCoordinator.queued` (with the chart's `concurrency` block left disabled)."""
    queued = (
        values["dagsterDaemon"]["runCoordinator"]["config"].get("queuedRunCoordinator")
        or {}
    )
    # The chart's module path; Dagster maps `dagster.core` to `dagster._core` when it loads the class.
    section: dict[str, Any] = {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
    }
    # The template writes `config:` only when sprig's `compact` leaves some value.
    if any(v not in (None, "", 0, False, [], {}) for v in queued.values()):
        max_runs = queued.get("maxConcurrentRuns")
        config: dict[str, Any] = {
            "max_concurrent_runs": -1 if max_runs is None else max_runs
        }
        if queued.get("tagConcurrencyLimits"):
            config["tag_concurrency_limits"] = queued["tagConcurrencyLimits"]
        for key, target in [
            ("dequeueIntervalSeconds", "dequeue_interval_seconds"),
            ("dequeueUseThreads", "dequeue_use_threads"),
            ("dequeueNumWorkers", "dequeue_num_workers"),
        ]:
            if queued.get(key):
                config[target] = queued[key]
        if queued.get("blockOpConcurrencyLimitedRuns"):
            block = queued["blockOpConcurrencyLimitedRuns"]
            config["block_op_concurrency_limited_runs"] = {
                "enabled": block["enabled"],
                "op_concurrency_slot_buffer": block["opConcurrencySlotBuffer"],
            }
        section["config"] = config
    return section


def render_instance(
    values: Mapping[str, Any], release: str, namespace: str
) -> dict[str, Any]:
    """The sections of the chart's instance ConfigMap (`dagster.yaml`) that values.yaml drives."""
    storage = _postgres_config(values, release)
    instance: dict[str, Any] = {
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": copy.deepcopy(storage),
        },
    }
    if values["runLauncher"]["type"] != "K8sRunLauncher":
        raise NotImplementedError("only the K8sRunLauncher is rendered here")
    instance["run_launcher"] = _k8s_run_launcher(values, release, namespace)
    instance["run_storage"] = {
        "module": "dagster_postgres.run_storage",
        "class": "PostgresRunStorage",
        "config": copy.deepcopy(storage),
    }
    instance["event_log_storage"] = {
        "module": "dagster_postgres.event_log",
        "class": "PostgresEventLogStorage",
        "config": copy.deepcopy(storage),
    }
    daemon = values.get("dagsterDaemon") or {}
    coordinator = daemon.get("runCoordinator") or {}
    if daemon.get("enabled") and coordinator.get("enabled"):
        if coordinator["type"] != "QueuedRunCoordinator":
            raise NotImplementedError("only the QueuedRunCoordinator is rendered here")
        instance["run_coordinator"] = _queued_run_coordinator(values)
    instance["telemetry"] = {"enabled": values["telemetry"]["enabled"]}
    retention = values.get("retention") or {}
    if retention.get("enabled"):
        instance["retention"] = {
            target: {"purge_after_days": retention[key]["purgeAfterDays"]}
            for key, target in [
                ("sensor", "sensor"),
                ("schedule", "schedule"),
                ("autoMaterialize", "auto_materialize"),
            ]
            if retention.get(key)
        }
    return instance


def render_workspace(values: Mapping[str, Any]) -> dict[str, Any]:
    """configmap-workspace.yaml: one gRPC server per user deployment, reached by its Service name."""
    deployments = values[SUBCHART_NAME]
    if not deployments.get("enabled"):
        return {}
    return {
        "load_from": [
            {
                "grpc_server": {
                    "host": d["name"],
                    "port": d["port"],
                    "location_name": d["name"],
                }
            }
            for d in deployments.get("deployments") or []
        ]
    }


def render_container_context(
    values: Mapping[str, Any],
    deployment: Mapping[str, Any],
    release: str,
    namespace: str,
) -> dict[str, Any]:
    """`dagsterUserDeployments.k8sContainerContext`: what a code location passes to its run pods
    (the subchart sets it as DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT when includeConfigInLaunchedRuns)."""
    sub = values[SUBCHART_NAME]
    global_ = values.get("global") or {}
    name = fullname(release, SUBCHART_NAME, sub, global_)
    k8s: dict[str, Any] = {"image_pull_policy": deployment["image"]["pullPolicy"]}
    if sub.get("imagePullSecrets"):
        k8s["image_pull_secrets"] = sub["imagePullSecrets"]
    k8s["env_config_maps"] = [
        f"{name}-{deployment['name']}-user-env",
        *_names(deployment.get("envConfigMaps")),
    ]
    if deployment.get("envSecrets"):
        k8s["env_secrets"] = _names(deployment["envSecrets"])
    for key, target in [
        ("volumeMounts", "volume_mounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
        ("schedulerName", "scheduler_name"),
    ]:
        if deployment.get(key):
            k8s[target] = deployment[key]
    k8s["namespace"] = namespace
    service_account = (sub.get("serviceAccount") or {}).get("name")
    k8s["service_account_name"] = (
        global_.get("serviceAccountName")
        or service_account
        or f"{name}-user-deployments"
    )
    if isinstance(deployment.get("env"), list):
        k8s["env"] = deployment["env"]
    pod_spec: dict[str, Any] = {"automount_service_account_token": True}
    if deployment.get("sidecarContainers"):
        pod_spec["containers"] = deployment["sidecarContainers"]
    if deployment.get("initContainers"):
        pod_spec["init_containers"] = deployment["initContainers"]
    k8s["run_k8s_config"] = {"pod_spec_config": pod_spec}
    if deployment.get("annotations"):
        k8s["run_k8s_config"]["pod_template_spec_metadata"] = {
            "annotations": deployment["annotations"]
        }
    return {"k8s": k8s}


# --------------------------------------------------------------------------------------------- security

_SECRETISH = re.compile(
    r"password|passwd|secret|token|credential|access_?key|private_?key|api_?key",
    re.IGNORECASE,
)
# Keys that name a Secret (or say whether to generate one) rather than hold one.
_SECRET_REFERENCES = {
    "postgresqlSecretName",
    "celeryConfigSecretName",
    "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret",
    "envSecrets",
    "secretName",
    "imagePullSecrets",
}
_CLOUD_KEY = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")  # an AWS access key id


def inline_secrets(values: Any, path: tuple = ()) -> list[str]:
    """Places where values.yaml holds a secret instead of naming a Kubernetes Secret."""
    found = []
    if isinstance(values, Mapping):
        for key, value in values.items():
            if key in _SECRET_REFERENCES:
                continue
            if (
                _SECRETISH.search(str(key))
                and isinstance(value, (str, int, float))
                and value != ""
            ):
                found.append("/".join(map(str, (*path, key))))
            found += inline_secrets(value, (*path, key))
    elif isinstance(values, list):
        for i, item in enumerate(values):
            # an env list entry: {name: AWS_SECRET_ACCESS_KEY, value: ...}
            if (
                isinstance(item, Mapping)
                and _SECRETISH.search(str(item.get("name", "")))
                and "value" in item
            ):
                found.append("/".join(map(str, (*path, i, item["name"]))))
            found += inline_secrets(item, (*path, i))
    elif isinstance(values, str):
        # envVars: ["NAME=value"]
        assignment = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=.", values)
        if _CLOUD_KEY.search(values) or (
            assignment and _SECRETISH.search(assignment.group(1))
        ):
            found.append("/".join(map(str, path)))
    return found
