"""deploy/compose.yaml: the scale-out stack's services, health checks, start order and embedded configs.

No Docker engine runs here, so the file is checked as data: parsed with YAML (merge keys resolved
as Compose resolves them), then against the Compose specification (the compose-spec package).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.alfred_config import validate_alfred_config

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "deploy" / "compose.yaml"
REQUIRED = {"gateway-1", "gateway-2", "image-worker", "postgres", "redis", "minio", "prometheus", "grafana"}
ONE_SHOT = {"migrate", "minio-buckets"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def test_the_stack_has_every_service_of_the_topology(compose: dict[str, Any]) -> None:
    assert set(services(compose)) >= REQUIRED


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    compose_spec = pytest.importorskip("compose_spec")
    document = {k: v for k, v in compose.items() if not k.startswith("x-")}
    parsed = compose_spec.PyCompose.from_json(json.dumps(document))
    assert set(parsed.service_names()) == set(services(compose))
    broken = {"services": {"a": {"image": "x", "depends_on": {"b": {"condition": "service_ready"}}}}}
    with pytest.raises(ValueError):
        compose_spec.PyCompose.from_json(json.dumps(broken))


def test_two_gateways_serve_from_the_repository_image(compose: dict[str, Any]) -> None:
    for name in ("gateway-1", "gateway-2"):
        gateway = services(compose)[name]
        assert gateway["command"][0] == "serve"
        assert gateway["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert (COMPOSE.parent / gateway["build"]["context"] / gateway["build"]["dockerfile"]).is_file()
        assert gateway["configs"] == [{"source": "alfred", "target": "/etc/alfred/alfred.yaml"}]
        assert "/health/ready" in " ".join(gateway["healthcheck"]["test"])
    assert services(compose)["image-worker"]["command"] == ["worker"]


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if name in ONE_SHOT:
            assert service["restart"] == "no"
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if name == "image-worker":
            assert check == {"disable": True}  # serves no HTTP; the image's check does not apply
            continue
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check["interval"] and check["retries"] >= 3


def test_dependencies_exist_wait_for_health_and_have_no_cycle(compose: dict[str, Any]) -> None:
    svc = services(compose)
    graph: dict[str, set[str]] = {}
    for name, service in svc.items():
        depends = service.get("depends_on", {})
        graph[name] = set(depends)
        for target, rule in depends.items():
            assert target in svc, f"{name} depends on unknown {target}"
            if rule["condition"] == "service_healthy":
                assert svc[target].get("healthcheck", {}).get("test"), f"{target} cannot become healthy"
            if rule["condition"] == "service_completed_successfully":
                assert target in ONE_SHOT
    for gateway in ("gateway-1", "gateway-2"):
        assert svc[gateway]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert svc[gateway]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert svc["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert svc["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"

    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> None:
        assert node not in visiting, f"dependency cycle through {node}"
        if node in done:
            return
        visiting.add(node)
        for target in graph[node]:
            visit(target)
        visiting.remove(node)
        done.add(node)

    for node in graph:
        visit(node)


def test_the_embedded_alfred_config_is_valid(compose: dict[str, Any]) -> None:
    raw = yaml.safe_load(compose["configs"]["alfred"]["content"])
    settings = validate_alfred_config(raw)
    assert settings.server.host == "0.0.0.0" and settings.server.port == 9090
    assert raw["state"] == {"backend": "redis", "redis": {"url": "redis://redis:6379/0"}}
    assert raw["images"]["queue"]["backend"] == "redis"


def test_ledger_url_uses_the_postgres_service_and_its_password(compose: dict[str, Any]) -> None:
    env = compose["x-alfred"]["environment"]
    postgres = services(compose)["postgres"]["environment"]
    url = env["ALFRED_LEDGER__DATABASE_URL"]
    match = re.fullmatch(r"postgresql\+asyncpg://(\w+):(\$\{[^}]+\})@postgres:5432/(\w+)", url)
    assert match, url
    assert (match.group(1), match.group(2), match.group(3)) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )


def test_prometheus_and_the_load_balancer_reach_both_gateways(compose: dict[str, Any]) -> None:
    scrape = yaml.safe_load(compose["configs"]["prometheus"]["content"])
    (job,) = scrape["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["gateway-1:9090", "gateway-2:9090"]
    nginx = compose["configs"]["nginx"]["content"]
    assert re.findall(r"server (gateway-\d):9090", nginx) == ["gateway-1", "gateway-2"]
    assert "proxy_buffering off;" in nginx  # SSE streams pass through as they come
    # Compose interpolates $VAR in config content: nginx's own variables must be written $$.
    assert re.search(r"(?<!\$)\$(?!\$|\{)", nginx) is None
    datasource = yaml.safe_load(compose["configs"]["grafana-datasource"]["content"])
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
