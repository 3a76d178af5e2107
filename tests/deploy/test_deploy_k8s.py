"""deploy/k8s (X6): every document of every manifest is a valid Kubernetes object (strict:
unknown fields are errors), and the deployment has what operations need: replicas, probes,
resources, PodDisruptionBudgets, the gateway's autoscaler, the migrations Job, non-root pods."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from device_gateway.settings import GatewaySettings
from installer_agent.settings import AgentSettings
from lockstep_shared.settings import LockstepSettings
from orchestrator.settings import OrchestratorSettings
from release_watcher.settings import WatcherSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes minor we promise, and the newest the validator knows.
VERSIONS = ["1.30", kubernetes_validate.latest_version()]
SERVICES = {"orchestrator": 8000, "device-gateway": 8001, "release-watcher": 8002}
SETTINGS: dict[str, type[BaseSettings]] = {
    "LOCKSTEP_ORCHESTRATOR_": OrchestratorSettings,
    "LOCKSTEP_GATEWAY_": GatewaySettings,
    "LOCKSTEP_WATCHER_": WatcherSettings,
    "LOCKSTEP_AGENT_": AgentSettings,
    "LOCKSTEP_": LockstepSettings,
}
IMAGE_UID = 10001  # USER of deploy/docker/*.Dockerfile


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def documents() -> list[dict[str, Any]]:
    """Every document of every manifest the kustomization lists, in order."""
    docs: list[dict[str, Any]] = []
    for name in kustomization()["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d is not None]
    return docs


def find(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def setting_exists(key: str) -> bool:
    for prefix, cls in SETTINGS.items():  # longest prefixes first
        if key.startswith(prefix):
            return key[len(prefix) :].lower() in cls.model_fields
    return False


# ------------------------------------------------------------------------------ validity
def test_kustomization_lists_every_manifest_in_the_directory() -> None:
    listed = kustomization()["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    assert kustomization()["namespace"] == find("Namespace", "lockstep")["metadata"]["name"]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_document_is_a_valid_kubernetes_object_strictly(version: str) -> None:
    docs = documents()
    assert len(docs) >= 14
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    "breakage",
    ["unknown-field", "replicas-not-a-number", "probe-port-missing", "container-without-name"],
)
def test_a_broken_manifest_is_rejected(breakage: str) -> None:
    deployment = copy.deepcopy(find("Deployment", "orchestrator"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    if breakage == "unknown-field":
        deployment["spec"]["replica"] = 2
    elif breakage == "replicas-not-a-number":
        deployment["spec"]["replicas"] = "two"
    elif breakage == "probe-port-missing":
        del container["readinessProbe"]["httpGet"]["port"]
    elif breakage == "container-without-name":
        del container["name"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) not here")
def test_kustomize_renders_valid_objects_all_in_the_lockstep_namespace() -> None:
    rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True,
                              text=True, timeout=60, check=True).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    assert len(docs) == len(documents())
    for doc in docs:
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "lockstep", doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "lockstep"


# ------------------------------------------------------------------------------ the shape
def test_replica_counts() -> None:
    assert find("Deployment", "orchestrator")["spec"]["replicas"] >= 2
    assert find("Deployment", "device-gateway")["spec"]["replicas"] >= 2
    watcher = find("Deployment", "release-watcher")
    assert watcher["spec"]["replicas"] == 1
    assert watcher["spec"]["strategy"]["type"] == "Recreate"
    assert "ONE replica" in (K8S / "release-watcher.yaml").read_text(), "say why in a comment"
    claims = [v["persistentVolumeClaim"]["claimName"]
              for v in watcher["spec"]["template"]["spec"]["volumes"]
              if "persistentVolumeClaim" in v]
    assert [find("PersistentVolumeClaim", c)["spec"]["accessModes"] for c in claims] == [
        ["ReadWriteOnce"]
    ]


def test_the_gateway_autoscales_on_cpu() -> None:
    hpa = find("HorizontalPodAutoscaler", "device-gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "device-gateway"
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100


@pytest.mark.parametrize("service", ["orchestrator", "device-gateway"])
def test_replicated_services_have_a_disruption_budget(service: str) -> None:
    deployment = find("Deployment", service)
    budget = find("PodDisruptionBudget", service)
    assert budget["apiVersion"] == "policy/v1"
    assert selects(budget["spec"]["selector"]["matchLabels"], pod_labels(deployment))
    assert 1 <= budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


@pytest.mark.parametrize("service", SERVICES)
def test_service_pods_probe_limit_and_run_as_non_root(service: str) -> None:
    deployment = find("Deployment", service)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == IMAGE_UID
    assert pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    assert container["image"] == f"lockstep/{service}" and container["args"] == ["serve"]
    [port] = container["ports"]
    assert port["containerPort"] == SERVICES[service]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert "/var/lib/lockstep" in mounts, "LOCKSTEP_VAR_DIR must be writable"
    assert [e.get("configMapRef", e.get("secretRef"))["name"] for e in container["envFrom"]] == [
        "lockstep-config", "lockstep-secrets", f"lockstep-bus-{service}"
    ]
    # The Service reaches these pods on the same named port.
    svc = find("Service", service)
    assert selects(svc["spec"]["selector"], pod_labels(deployment))
    assert svc["spec"]["ports"][0]["targetPort"] == port["name"]


def test_the_configmap_holds_real_non_secret_settings_and_the_ports_match() -> None:
    data = find("ConfigMap", "lockstep-config")["data"]
    for key, value in data.items():
        assert setting_exists(key), f"{key} is not a Lockstep setting"
        assert not re.search(r"PASS|SECRET|TOKEN", key), key
        assert "@" not in value, f"{key}: credentials belong in the Secret"
    assert data["LOCKSTEP_ORCHESTRATOR_PORT"] == "8000"
    assert data["LOCKSTEP_GATEWAY_PORT"] == "8001"
    assert data["LOCKSTEP_WATCHER_PORT"] == "8002"
    assert data["LOCKSTEP_WATCHER_HOST"] == "0.0.0.0"  # its default is 127.0.0.1
    assert data["LOCKSTEP_WATCHER_PUBLIC_URL"] == "http://release-watcher:8002"
    watcher = find("Deployment", "release-watcher")["spec"]["template"]["spec"]
    mount = {m["name"]: m["mountPath"] for m in watcher["containers"][0]["volumeMounts"]}
    root = next(v for v in watcher["volumes"] if "configMap" in v)
    assert f"{mount[root['name']]}/{root['configMap']['items'][0]['path']}" == data[
        "LOCKSTEP_WATCHER_TRUSTED_ROOT"
    ]


def test_the_secret_has_only_placeholders_and_says_where_real_values_come_from() -> None:
    text = (K8S / "secret.yaml").read_text()
    assert "secret store" in text
    data = find("Secret", "lockstep-secrets")["stringData"]
    assert {"LOCKSTEP_DATABASE_URL", "LOCKSTEP_INTERNAL_TOKEN"} <= set(data)
    assert "LOCKSTEP_AMQP_URL" not in data, "no RabbitMQ login shared by every service"
    bus_secrets = [f"lockstep-bus-{s}" for s in SERVICES]
    for name in ["lockstep-secrets", "lockstep-bus-users", *bus_secrets]:
        for key, value in find("Secret", name)["stringData"].items():
            assert "CHANGE-ME" in value, f"{name}.{key} must be an obvious placeholder"
    assert setting_exists("LOCKSTEP_AMQP_URL") and setting_exists("LOCKSTEP_DATABASE_URL")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_logs_in_to_rabbitmq_as_its_own_user(service: str) -> None:
    from urllib.parse import urlsplit

    from lockstep_shared.bus.identity import bus_user

    namespace = find("ConfigMap", "lockstep-config")["data"]["LOCKSTEP_BUS_NAMESPACE"]
    data = find("Secret", f"lockstep-bus-{service}")["stringData"]
    assert list(data) == ["LOCKSTEP_AMQP_URL"]
    assert urlsplit(data["LOCKSTEP_AMQP_URL"]).username == bus_user(service, namespace)  # type: ignore[arg-type]


def test_the_bus_users_job_provisions_every_services_user_from_the_catalogue() -> None:
    from lockstep_shared.bus.provisioning import bus_users

    job = find("Job", "lockstep-bus-users")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["image"] == "lockstep/orchestrator"
    assert container["command"] == ["lockstep-bus-users"]
    assert container["args"][:2] == ["apply", "--management-url"]
    assert [e.get("configMapRef", e.get("secretRef"))["name"] for e in container["envFrom"]] == [
        "lockstep-config", "lockstep-bus-users"]
    secret = find("Secret", "lockstep-bus-users")["stringData"]
    namespace = find("ConfigMap", "lockstep-config")["data"]["LOCKSTEP_BUS_NAMESPACE"]
    needed = {u.password_variable for u in bus_users(namespace)}
    assert set(secret) == {"BUS_ADMIN_USER", "BUS_ADMIN_PASSWORD", *needed}


def test_the_ingress_routes_console_api_and_device_api() -> None:
    ingress = find("Ingress", "lockstep")
    routes = {
        (rule["host"], p["path"]): (p["pathType"], p["backend"]["service"]["name"],
                                    p["backend"]["service"]["port"]["name"])
        for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]
    }
    assert routes == {
        ("lockstep.example.com", "/"): ("Prefix", "orchestrator", "http"),
        ("lockstep.example.com", "/api"): ("Prefix", "orchestrator", "http"),
        ("lockstep.example.com", "/device"): ("Prefix", "device-gateway", "http"),
        # hawkBit DDI agents: /{site}/controller/v1/… on a host of the gateway's own
        ("ddi.lockstep.example.com", "/"): ("Prefix", "device-gateway", "http"),
    }
    [tls] = ingress["spec"]["tls"]
    assert {rule["host"] for rule in ingress["spec"]["rules"]} <= set(tls["hosts"])
    for name in ("orchestrator", "device-gateway"):
        assert [p["name"] for p in find("Service", name)["spec"]["ports"]] == ["http"]


def test_the_migrations_job_migrates_every_service_in_order() -> None:
    job = find("Job", "lockstep-migrate")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    steps = pod.get("initContainers", []) + pod["containers"]
    assert [(c["image"], c["args"]) for c in steps] == [
        (f"lockstep/{s}", ["migrate"]) for s in SERVICES
    ]
    for step, service in zip(steps, SERVICES, strict=True):
        assert step["envFrom"][-1] == {"secretRef": {"name": f"lockstep-bus-{service}"}}
        assert step["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"requests", "limits"} <= set(step["resources"])


def test_images_are_the_ones_the_dockerfiles_build() -> None:
    images = {i["name"] for i in kustomization()["images"]}
    assert images == {f"lockstep/{s}" for s in SERVICES}
    for service in SERVICES:
        text = (ROOT / "deploy" / "docker" / f"{service}.Dockerfile").read_text()
        assert f"USER {IMAGE_UID}:{IMAGE_UID}" in text
        assert f'ENTRYPOINT ["lockstep-{service}"]' in text


@pytest.mark.parametrize("service", SERVICES)
def test_pods_are_annotated_for_prometheus_on_their_own_port(service: str) -> None:
    annotations = find("Deployment", service)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(SERVICES[service])
    assert annotations["prometheus.io/path"] == "/metrics"
