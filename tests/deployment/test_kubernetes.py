"""The Kubernetes manifests (deploy/kubernetes/): every manifest valid, and every name, port,
variable, command and probe what the code really has.

- Built-in kinds are validated against Kubernetes' own OpenAPI schemas (kubernetes-validate,
  which ships them; strict: an unknown or misspelt field fails), as written in the base and as
  each overlay renders them (`kubectl kustomize`, which kubectl has built in). The custom
  resources (KEDA's ScaledObject and TriggerAuthentication, the Prometheus Operator's
  ServiceMonitor) have no schema there: their structure is checked here, field by field.
- Against the code: container commands are `postinterview` commands and options the CLI has;
  every variable is one service/settings.py reads, secrets only from Secrets; the ConfigMap's
  values are valid settings; probe and scrape paths are routes the apps serve, on the ports
  the processes listen on; the autoscaler watches the queue, namespace and server the worker
  uses; the mounted TOML files are the repository's.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer.main
import yaml

from domain import contract
from service.settings import Settings, environment_variables

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
BASE = KUBE / "base"
OVERLAYS = sorted(path for path in (KUBE / "overlays").iterdir() if (path / "kustomization.yaml").exists())
TARGETS = [BASE, *OVERLAYS]
# The oldest Kubernetes release the manifests are meant for (autoscaling/v2, policy/v1 and
# Job TTLs are all older), and the newest schemas the package ships.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication"), ("monitoring.coreos.com/v1", "ServiceMonitor")}
WORKLOADS = ("Deployment", "Job")
# Variables that hold credentials without being declared secret in the settings (the password
# is inside the URL).
ALSO_SECRET = {"DATABASE_URL"}
# KEDA's Temporal scaler: its documented trigger metadata and authentication parameters.
KEDA_TEMPORAL_METADATA = {
    "endpoint", "endpointFromEnv", "namespace", "taskQueue", "targetQueueSize", "activationTargetQueueSize", "queueTypes",
    "workerDeploymentName", "workerDeploymentBuildId", "includeRunningWorkflowCount", "workflowTaskQueueForCount",
    "minConnectTimeout", "unsafeSsl", "tlsServerName", "enableTLS",
}
KEDA_TEMPORAL_AUTH = {"apiKey", "ca", "cert", "key", "keyPassword"}
# What the ingress may publish: the senders' and recruiters' paths (README, Security).
PUBLIC_PATHS = ("/webhooks", "/events", "/r", "/inbox", "/api")


def target_id(path: Path) -> str:
    return str(path.relative_to(KUBE))


# --- reading the manifests ----------------------------------------------------------------------


def load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def kustomization(directory: Path) -> dict[str, Any]:
    return load_documents(directory / "kustomization.yaml")[0]


@cache
def base_documents() -> list[dict[str, Any]]:
    """The base's manifests as written (before kustomize: generated ConfigMaps absent)."""
    documents = []
    for name in kustomization(BASE)["resources"]:
        if (BASE / name).is_file():  # a directory is another kustomization (config/'s ConfigMap)
            documents += load_documents(BASE / name)
    return documents


@cache
def rendered(directory: Path) -> list[dict[str, Any]]:
    """What `kubectl apply -k DIRECTORY` would send."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed here (Debian's kubectl package has kustomize built in)")
    done = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kubectl kustomize {target_id(directory)} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(documents: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] in kinds]


def named(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in of_kind(documents, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return workload["spec"]["template"]["spec"]["containers"]


def engine_environment(documents: list[dict[str, Any]]) -> dict[str, str]:
    """The rendered postinterview-env ConfigMap's data (its name carries kustomize's hash)."""
    maps = [doc for doc in of_kind(documents, "ConfigMap") if doc["metadata"]["name"].startswith("postinterview-env")]
    assert len(maps) == 1, "one postinterview-env ConfigMap"
    return maps[0]["data"]


def component(workload: dict[str, Any]) -> str:
    return workload["metadata"]["labels"]["app.kubernetes.io/component"]


# --- schemas ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_base_manifest_is_valid_kubernetes(version: str):
    checked = 0
    for document in base_documents():
        if (document["apiVersion"], document["kind"]) in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(document, version, strict=True)
        checked += 1
    assert checked >= 10, f"only {checked} built-in manifests in the base"


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_manifest_is_valid_kubernetes(directory: Path, version: str):
    for document in rendered(directory):
        if (document["apiVersion"], document["kind"]) not in CUSTOM_KINDS:
            kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_no_secret_is_written_in_the_manifests(directory: Path):
    documents = rendered(directory)
    assert not of_kind(documents, "Secret"), "Secrets are created by the operator (or an external secret store), never shipped"
    secret_names = set(environment_variables(secrets_only=True)) | ALSO_SECRET
    assert not secret_names & set(engine_environment(documents)), "a secret in the ConfigMap"
    for workload in of_kind(documents, *WORKLOADS):
        for container in containers(workload):
            for variable in container.get("env", []):
                if variable["name"] in secret_names:
                    assert "secretKeyRef" in variable.get("valueFrom", {}), (
                        f"{workload['metadata']['name']} sets {variable['name']} other than from a Secret"
                    )


# --- the code's names ---------------------------------------------------------------------------


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_containers_run_commands_and_options_the_cli_has(directory: Path):
    from cli.main import app

    for workload in of_kind(rendered(directory), *WORKLOADS):
        for container in containers(workload):
            command = container["command"]
            assert command[0] == "postinterview", f"{container['name']}: {command}"
            current = typer.main.get_command(app)
            words = list(command[1:])
            while hasattr(current, "commands"):  # a group (typer may carry a click of its own)
                if getattr(current, "invoke_without_command", False) and (not words or words[0].startswith("-")):
                    break  # a group that runs by itself (`intake --port ...` serves; `intake check-config` checks)
                assert words, f"{command}: names a group, not a command"
                word = words.pop(0)
                assert word in current.commands, f"{command}: the CLI has no command {word!r}"
                current = current.commands[word]
            options = {option for parameter in current.params for option in parameter.opts}
            flags = [word for word in words if word.startswith("--")]
            assert set(flags) <= options, f"{command}: {sorted(set(flags) - options)} are not options of that command"


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_every_variable_is_one_the_engine_reads(directory: Path):
    known = set(environment_variables())
    documents = rendered(directory)
    unknown = set(engine_environment(documents)) - known
    assert not unknown, f"the ConfigMap sets {sorted(unknown)}, which service/settings.py does not read"
    for workload in of_kind(documents, *WORKLOADS):
        for container in containers(workload):
            names = {variable["name"] for variable in container.get("env", [])}
            assert names <= known, f"{workload['metadata']['name']} sets {sorted(names - known)}, which the engine does not read"
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"].startswith("postinterview-env")


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_the_configmap_is_valid_settings(directory: Path, tmp_path: Path):
    values = dict(engine_environment(rendered(directory)))
    # The TLS files are mounted from a Secret in the cluster; stand-ins here, read as the pods would.
    for name, value in list(values.items()):
        if name.startswith("TEMPORAL_TLS_") and name.endswith("_PATH"):
            stand_in = tmp_path / Path(value).name
            stand_in.write_text(f"PEM of {name}")
            values[name] = str(stand_in)
    settings = Settings.from_env(values)
    options = settings.worker.options()
    assert options.metrics_address and options.health_address, "the worker serves metrics and probes"
    connection = settings.temporal_connection()
    assert connection.address == values["TEMPORAL_ADDRESS"] and connection.namespace == values["TEMPORAL_NAMESPACE"]
    assert settings.task_queue == contract.TASK_QUEUE
    assert settings.auto_migrate() is False, "the migration Job upgrades the schema, not whichever replica starts first"
    assert settings.links.public_base_url.startswith("https://"), "PUBLIC_BASE_URL is the ingress's https address"
    if "TEMPORAL_TLS_CLIENT_CERT_PATH" in values:
        assert connection.security() == "mtls"


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_the_mounted_config_files_are_where_the_settings_point(directory: Path):
    documents = rendered(directory)
    environment = engine_environment(documents)
    config_maps = {doc["metadata"]["name"]: doc for doc in of_kind(documents, "ConfigMap")}
    for workload in of_kind(documents, "Deployment"):
        if component(workload) not in ("worker", "intake"):
            continue
        volumes = {volume["name"]: volume for volume in workload["spec"]["template"]["spec"]["volumes"]}
        mounts = {mount["mountPath"]: mount for mount in containers(workload)[0]["volumeMounts"]}
        for variable in ("POLICY_FILE", "INTAKE_CONFIG"):
            path = Path(environment[variable])
            assert str(path.parent) in mounts, f"{workload['metadata']['name']}: nothing mounted at {path.parent} ({variable})"
            volume = volumes[mounts[str(path.parent)]["name"]]
            assert path.name in config_maps[volume["configMap"]["name"]]["data"], f"{variable}: {path.name} is not in the mounted ConfigMap"


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_the_configmaps_toml_files_are_the_repositorys(directory: Path):
    (config,) = [doc for doc in of_kind(rendered(directory), "ConfigMap") if doc["metadata"]["name"].startswith("postinterview-config")]
    for name in ("policy.toml", "intake.toml"):
        assert config["data"][name] == (REPO / "config" / name).read_text(encoding="utf-8"), f"the ConfigMap's {name} is not config/{name}"


def _routes(kind: str, tmp_path: Path) -> set[str]:
    """The paths the process of that component serves."""
    if kind == "worker":
        from service.worker_health import WorkerHealth, health_app

        return {route.path for route in health_app(WorkerHealth(None, "q", None)).routes}  # type: ignore[arg-type]
    if kind == "intake":
        from service.http import http_app
        from store.intake_store import IntakeStore
        from tests.intake.test_service import config

        store_url = f"sqlite:///{tmp_path / 'routes.sqlite3'}"
        store = IntakeStore(store_url)
        try:
            app, close = http_app(Settings(database_url=store_url), config(), store)
            close()
            return {getattr(route, "path", "") for route in app.app.routes}  # type: ignore[attr-defined]
        finally:
            store.close()
    if kind == "codec-server":
        from codec.encryption import EncryptionCodec, generate_key
        from service.codec_server import create_codec_app

        codec_app = create_codec_app(EncryptionCodec.parse(f"k:{generate_key()}"), ("https://ui",), "t")
        return {route.path for route in codec_app.app.routes}  # type: ignore[attr-defined]  (the app inside its body limit)
    raise AssertionError(kind)


def _listening_port(container: dict[str, Any], environment: dict[str, str], kind: str) -> dict[str, int]:
    """{port name: the port the process listens on}, from its command and settings."""
    command = container["command"]
    if kind == "worker":
        return {
            "health": int(environment["WORKER_HEALTH_ADDRESS"].rpartition(":")[2]),
            "metrics": int(environment["WORKER_METRICS_ADDRESS"].rpartition(":")[2]),
        }
    assert command[command.index("--host") + 1] == "0.0.0.0", f"{kind} listens on loopback only: unreachable from the kubelet"
    return {container["ports"][0]["name"]: int(command[command.index("--port") + 1])}


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_probes_ask_routes_the_processes_serve_on_their_ports(directory: Path, tmp_path: Path):
    documents = rendered(directory)
    environment = engine_environment(documents)
    for workload in of_kind(documents, "Deployment"):
        kind = component(workload)
        container = containers(workload)[0]
        declared = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert declared == _listening_port(container, environment, kind), f"{kind}: container ports {declared}"
        routes = _routes(kind, tmp_path)
        for probe in ("livenessProbe", "readinessProbe"):
            check = container[probe]["httpGet"]
            assert check["port"] in declared, f"{kind} {probe}: no port named {check['port']}"
            assert check["path"] in routes, f"{kind} {probe}: {check['path']} is not served ({sorted(routes)})"
        if kind in ("worker", "intake"):
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" and container["readinessProbe"]["httpGet"]["path"] == "/readyz", (
                f"{kind}: liveness and readiness are different questions"
            )


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_every_container_requests_resources(directory: Path):
    for workload in of_kind(rendered(directory), *WORKLOADS):
        for container in containers(workload):
            requests = container.get("resources", {}).get("requests", {})
            assert {"cpu", "memory"} <= set(requests), f"{workload['metadata']['name']}/{container['name']} requests {requests}"
            assert "memory" in container["resources"].get("limits", {}), f"{container['name']}: no memory limit"


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_services_and_budgets_select_the_pods_and_ports_they_mean(directory: Path):
    documents = rendered(directory)
    deployments = of_kind(documents, "Deployment")

    def selected(selector: dict[str, str]) -> list[dict[str, Any]]:
        return [d for d in deployments if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]

    for service in of_kind(documents, "Service"):
        pods = selected(service["spec"]["selector"])
        assert len(pods) == 1, f"Service {service['metadata']['name']} selects {len(pods)} Deployments"
        names = {port["name"] for port in containers(pods[0])[0]["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names, f"Service {service['metadata']['name']}: no container port {port['targetPort']}"
    budgets = {component(pods[0]) for budget in of_kind(documents, "PodDisruptionBudget") if (pods := selected(budget["spec"]["selector"]["matchLabels"]))}
    assert budgets == {"worker", "intake"}, f"disruption budgets cover {budgets}"


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_the_worker_gets_time_to_drain(directory: Path):
    documents = rendered(directory)
    grace = Settings.from_env(engine_environment(documents)).worker.options().shutdown_grace.total_seconds()
    worker = named(documents, "Deployment", "postinterview-worker")
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_the_jobs_migrate_the_store_and_register_the_search_attributes(directory: Path):
    documents = rendered(directory)
    assert containers(named(documents, "Job", "postinterview-db-upgrade"))[0]["command"] == ["postinterview", "db", "upgrade"]
    assert containers(named(documents, "Job", "postinterview-search-attributes"))[0]["command"][:2] == ["postinterview", "search-attributes"]
    for job in of_kind(documents, "Job"):
        assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
        assert job["spec"].get("ttlSecondsAfterFinished"), "a finished Job goes, so the next release can create it again"


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_autoscalers(directory: Path):
    documents = rendered(directory)
    environment = engine_environment(documents)
    (scaled,) = of_kind(documents, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    worker = named(documents, "Deployment", spec["scaleTargetRef"]["name"])
    assert component(worker) == "worker" and "replicas" not in worker["spec"], "KEDA owns the worker's replicas"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["minReplicaCount"] >= 2, "one replica polling during a rollout or a crash"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "temporal"
    metadata = trigger["metadata"]
    assert set(metadata) <= KEDA_TEMPORAL_METADATA, f"unknown scaler metadata {sorted(set(metadata) - KEDA_TEMPORAL_METADATA)}"
    assert all(isinstance(value, str) for value in metadata.values()), "KEDA's trigger metadata are strings"
    assert metadata["endpoint"] == environment["TEMPORAL_ADDRESS"], "KEDA asks another server than the worker polls"
    assert metadata["namespace"] == environment["TEMPORAL_NAMESPACE"]
    assert metadata["taskQueue"] == environment["TASK_QUEUE"] == contract.TASK_QUEUE
    assert set(metadata["queueTypes"].split(",")) <= {"workflow", "activity"}
    assert int(metadata["targetQueueSize"]) > 0 and int(metadata["activationTargetQueueSize"]) >= 0
    if "authenticationRef" in trigger:
        auth = named(documents, "TriggerAuthentication", trigger["authenticationRef"]["name"])
        parameters = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
        assert parameters <= KEDA_TEMPORAL_AUTH, f"unknown auth parameters {sorted(parameters - KEDA_TEMPORAL_AUTH)}"
        assert all(ref["name"] and ref["key"] for ref in auth["spec"]["secretTargetRef"])
        if "apiKey" in parameters:
            assert metadata.get("enableTLS") == "true", "an API key goes over TLS only"
    (hpa,) = of_kind(documents, "HorizontalPodAutoscaler")
    intake = named(documents, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
    assert component(intake) == "intake" and "replicas" not in intake["spec"], "the HPA owns the intake's replicas"
    assert [metric["resource"]["name"] for metric in hpa["spec"]["metrics"]] == ["cpu"]


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_service_monitors_scrape_the_metrics_endpoints(directory: Path, tmp_path: Path):
    documents = rendered(directory)
    monitors = of_kind(documents, "ServiceMonitor")
    assert {m["apiVersion"] for m in monitors} == {"monitoring.coreos.com/v1"}
    scraped = set()
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        services = [s for s in of_kind(documents, "Service") if selector.items() <= s["metadata"].get("labels", {}).items()]
        assert len(services) == 1, f"ServiceMonitor {monitor['metadata']['name']} selects {len(services)} Services"
        port_names = {port["name"] for port in services[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"
        scraped.add(services[0]["metadata"]["labels"]["app.kubernetes.io/component"])
    assert scraped == {"worker", "intake"}
    assert "/metrics" in _routes("intake", tmp_path)


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_one_image_for_every_container(directory: Path):
    images = {container["image"] for workload in of_kind(rendered(directory), *WORKLOADS) for container in containers(workload)}
    assert len(images) == 1, images
    (image,) = images
    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{image}: a release tag, never latest"
    if directory != BASE:
        assert "/" in image, "an overlay names its registry"


@pytest.mark.parametrize("directory", OVERLAYS, ids=target_id)
def test_ingresses_publish_only_the_public_paths(directory: Path):
    documents = rendered(directory)
    for ingress in of_kind(documents, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["path"] in PUBLIC_PATHS, f"{path['path']} is not for the internet (README, Security)"
                backend = path["backend"]["service"]
                service = named(documents, "Service", backend["name"])
                assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
        environment = engine_environment(documents)
        assert environment["PUBLIC_BASE_URL"] == f"https://{ingress['spec']['tls'][0]['hosts'][0]}", (
            "PUBLIC_BASE_URL must be the ingress's https address: the inbox's origin and the links' base"
        )


@pytest.mark.parametrize("directory", TARGETS, ids=target_id)
def test_client_certificates_are_mounted_where_the_tls_settings_read_them(directory: Path):
    documents = rendered(directory)
    environment = engine_environment(documents)
    paths = {Path(value) for name, value in environment.items() if name.startswith("TEMPORAL_TLS_") and name.endswith("_PATH")}
    clients = [w for w in of_kind(documents, *WORKLOADS) if w["metadata"]["labels"].get("postinterview.io/temporal-client") == "true"]
    assert {component(w) for w in clients} == {"worker", "intake", "search-attributes"}
    for workload in clients:
        mounts = {mount["mountPath"] for mount in containers(workload)[0].get("volumeMounts", [])}
        for path in paths:
            assert str(path.parent) in mounts, f"{workload['metadata']['name']} reads {path} but nothing is mounted at {path.parent}"
