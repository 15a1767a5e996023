"""Debian's Prometheus scrapes a running Alfred; every dashboard panel's query returns data.

Needs the ``prometheus`` and ``promtool`` binaries (Debian: ``apt-get install -y prometheus``); the
tests skip only when they are absent. A real gateway (examples/mock.yaml, plus a model rate limit
and the semantic cache so that those panels get data) in front of the mock upstream serves traffic
while a real Prometheus scrapes it every second; then each expression of
deploy/grafana/dashboards/alfred-gateway.json is run through Prometheus' HTTP API.

Governance is on (a SQLite ledger; anonymous callers still pass) and two teams' keys make calls, so
cost by team and model, budgets and the ledger gauges get data; images run on the demo's built-in
mock backends (examples/demo.yaml), so the queue depth, route split and generation time panels do.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests.servers import ROOT, free_port, gateway, mock_upstream, wait_http

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="needs Debian's prometheus package (apt-get install -y prometheus)",
)

DASHBOARD = ROOT / "deploy/grafana/dashboards/alfred-gateway.json"
RULES_DIR = ROOT / "deploy/prometheus"
RATE_INTERVAL = "15s"  # what Grafana's $__rate_interval is with a 1 s scrape interval and 15 s steps
RANGE = "10m"  # what Grafana's $__range is for a dashboard showing the last 10 minutes
LIMITED_MODEL = "command-r"  # one request a minute: the second of each round is refused (scope "model")

# Panels whose data comes from parts not wired into the gateway yet. Each must still return nothing
# (so that wiring the part fails this test until its mark is removed), and every metric it reads
# must already be described in /metrics.
PENDING: dict[str, str] = {}
IMAGE_MODEL = "demo-sdxl"


def panels() -> list[dict]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_the_dashboard_is_valid_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "alfred-gateway" and dashboard["templating"]["list"][0]["type"] == "datasource"
    titles = [p["title"] for p in panels()]
    assert len(titles) == len(set(titles)), "panel titles identify panels here: keep them unique"
    assert set(PENDING) <= set(titles)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["targets"] and all(
            t["expr"] and t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]
        )


def test_promtool_checks_and_tests_the_alert_rules() -> None:
    assert PROMTOOL is not None
    checked = subprocess.run([PROMTOOL, "check", "rules", "rules/alfred.rules.yml"], cwd=RULES_DIR,
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([PROMTOOL, "test", "rules", "tests/alfred.rules.test.yml"], cwd=RULES_DIR,
                            capture_output=True, text=True)  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    config = subprocess.run([PROMTOOL, "check", "config", "--syntax-only", "prometheus.yml"], cwd=RULES_DIR,
                            capture_output=True, text=True)  # fmt: skip
    assert config.returncode == 0, config.stdout + config.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(gateway URL, mock URL, Prometheus URL), Prometheus scraping the gateway every second."""
    assert PROMETHEUS is not None
    work = tmp_path_factory.mktemp("prometheus")
    settings = yaml.safe_load((ROOT / "examples" / "mock.yaml").read_text())
    settings["rate_limits"] = {"models": {LIMITED_MODEL: {"rpm": 1}}}
    settings["cache"]["semantic"] = {"enabled": True}
    settings["key_hash_secret"] = "scrape-test-key-hash-secret"  # pragma: allowlist secret
    settings["governance"] = {
        "enabled": True,
        "auth": {"anonymous": True},
        "ledger": {"database_url": f"sqlite+aiosqlite:///{work / 'ledger.db'}", "reconcile_interval_s": 1},
    }
    demo = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    settings["images"] = {**demo["images"], "router": {"threshold": 50}}
    settings["storage"] = {"kind": "local", "root": str(work / "files")}
    gateway_config = work / "alfred.yaml"
    gateway_config.write_text(yaml.safe_dump(settings))
    with (
        mock_upstream() as mock_url,
        gateway(
            str(gateway_config), env={"ALFRED_MOCK_URL": mock_url, "ALFRED_MASTER_KEY": "sk-test-master"}
        ) as gateway_url,
    ):
        port = free_port()
        config = work / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{RULES_DIR / 'rules' / 'alfred.rules.yml'}']\n"
            "scrape_configs:\n"
            "  - job_name: alfred-gateway\n"
            f"    static_configs: [{{targets: ['{gateway_url.removeprefix('http://')}']}}]\n"
        )
        log = (work / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/-/ready", deadline_s=30, proc=proc)
            yield gateway_url, mock_url, url
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.close()


def team_keys(client: httpx.Client, gateway_url: str) -> tuple[str, str]:
    """Keys of two users in two teams (made through the admin API, as an operator would)."""
    master = {"authorization": "Bearer sk-test-master"}

    def post(path: str, body: dict) -> dict:
        response = client.post(f"{gateway_url}{path}", json=body, headers=master)
        assert response.status_code == 201, response.text
        return response.json()

    keys = []
    for name in ("red", "blue"):
        team = post("/admin/teams", {"name": name, "common_pool": "100"})
        user = post("/admin/users", {"email": f"u@{name}.io", "name": name, "team_id": team["id"],
                                     "personal_quota": "100"})  # fmt: skip
        keys.append(post("/admin/keys", {"user_id": user["id"], "name": "scrape"})["key"])
    return keys[0], keys[1]


def send_traffic(client: httpx.Client, gateway_url: str, keys: tuple[str, str], round_: int) -> None:
    chat = f"{gateway_url}/v1/chat/completions"
    red, blue = ({"authorization": f"Bearer {key}"} for key in keys)
    client.post(
        chat, headers=red, json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    )
    # blue only streams: its cost lands only if the stream is settled before the Metrics stage records
    with client.stream("POST", chat, headers=blue, json={"model": "claude-3-5-haiku", "stream": True,
                                                         "messages": [{"role": "user", "content": "s"}]}) as r:  # fmt: skip
        r.read()
    # a new prompt each round (a repeat would be a result-cache hit), answered without waiting
    images = f"{gateway_url}/v1/images/generations"
    client.post(images, json={"model": IMAGE_MODEL, "prompt": f"a red fox, take {round_}", "wait": 0})
    for model in ("gpt-4o-mini", "claude-3-5-haiku", "gemini-2.0-flash", "mistral-small"):
        client.post(chat, json={"model": model, "messages": [{"role": "user", "content": "hello there"}]})
    with client.stream("POST", chat, json={"model": "gpt-4o-mini", "stream": True,
                                           "messages": [{"role": "user", "content": "stream please"}]}) as r:  # fmt: skip
        r.read()
    client.post(f"{gateway_url}/v1/embeddings", json={"model": "text-embedding-3-small", "input": "vectors"})
    client.post(chat, json={"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]})
    # temperature 0 is cacheable: a repeat is an exact hit, a rephrasing a semantic one
    for question in ("How do I undo the last git commit?", "How can I undo my last commit in git?"):
        client.post(chat, json={"model": "gpt-4o-mini", "temperature": 0,
                                "messages": [{"role": "user", "content": question}]})  # fmt: skip
    for _ in range(2):
        client.post(chat, json={"model": LIMITED_MODEL, "messages": [{"role": "user", "content": "limited"}]})


def query(client: httpx.Client, prometheus_url: str, expr: str) -> list[dict]:
    response = client.get(
        f"{prometheus_url}/api/v1/query",
        params={"query": expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__range", RANGE)},
    )
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body}"
    return [r for r in body["data"]["result"] if r["value"][1] not in ("NaN", "+Inf", "-Inf")]


def test_every_dashboard_panel_returns_data(stack: tuple[str, str, str]) -> None:
    gateway_url, mock_url, prometheus_url = stack
    targets = [(p["title"], t["expr"]) for p in panels() if p["title"] not in PENDING for t in p["targets"]]
    # and the traffic behind them was seen for what it was: failures, streams, embeddings
    targets += [
        ("upstream failures", 'sum(alfred_requests_total{status=~"5..",model_group="mistral-small"}) > 0'),
        ("unknown model", 'sum(alfred_requests_total{status="404",model_group="none"}) > 0'),
        ("streams", 'sum(alfred_time_to_first_token_seconds_count{model_group="gpt-4o-mini"}) > 0'),
        ("exact hits", 'sum(alfred_cache_requests_total{model_group="gpt-4o-mini",result="hit"}) > 0'),
        ("semantic hits", 'sum(alfred_cache_semantic_similarity_count{model_group="gpt-4o-mini"}) > 0'),
        ("model limit", 'sum(alfred_rate_limit_rejections_total{scope="model"}) > 0'),
        ("embeddings", 'sum(alfred_tokens_total{model_group="text-embedding-3-small",direction="in"}) > 0'),
        ("keyed cost", 'sum(alfred_cost_usd_total{model_group="gpt-4o-mini",team!="none"}) > 0'),
        ("streamed cost", 'sum(alfred_cost_usd_total{model_group="claude-3-5-haiku",team!="none"}) > 0'),
        ("primary images", 'sum(alfred_image_jobs_total{route="primary",outcome="ok"}) > 0'),
        ("image pools", 'count(alfred_image_queue_depth{pool=~"demo-sdxl[.](primary|fallback)"}) == 2'),
        ("budgets", "count(alfred_budget_used_ratio) >= 2"),
        ("drift", "max(alfred_ledger_drift_usd) == 0"),
        (
            "5xx share",
            'sum(rate(alfred_requests_total{status=~"5.."}[15s])) / sum(rate(alfred_requests_total[15s])) > 0',
        ),
    ]
    with httpx.Client(timeout=30) as client:
        metrics = client.get(f"{gateway_url}/metrics")
        assert metrics.status_code == 200, "GET /metrics is not served: is GatewayMetrics wired in app.py?"
        # mistral's upstream fails: the 5xx share and the error-status series get real data
        client.post(f"{mock_url}/mock/faults", json={"status": 500, "path": "/mistral"}).raise_for_status()
        keys = team_keys(client, gateway_url)
        missing = targets
        deadline = time.monotonic() + 120
        round_ = 0
        while missing and time.monotonic() < deadline:
            round_ += 1
            send_traffic(client, gateway_url, keys, round_)
            missing = [(title, expr) for title, expr in missing if not query(client, prometheus_url, expr)]
        assert not missing, f"panels without data: {missing}"
        up = query(client, prometheus_url, 'up{job="alfred-gateway"}')
        assert up and up[0]["value"][1] == "1"
        described = set(re.findall(r"^# TYPE (\w+)", client.get(f"{gateway_url}/metrics").text, re.M))
        for panel in panels():
            if panel["title"] not in PENDING:
                continue
            for target in panel["targets"]:
                assert not query(client, prometheus_url, target["expr"]), (
                    f"'{panel['title']}' returns data now: remove it from PENDING ({PENDING[panel['title']]})"
                )
                for name in re.findall(r"\balfred_\w+", target["expr"]):
                    family = re.sub(r"_(bucket|sum|count)$", "", name)
                    assert family in described or f"{family}_total" in described or name in described, (
                        f"{name} (panel '{panel['title']}') is not in /metrics"
                    )


def test_the_rules_load_into_the_running_prometheus(stack: tuple[str, str, str]) -> None:
    _, _, prometheus_url = stack
    groups = httpx.get(f"{prometheus_url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"AlfredHighErrorRate", "AlfredCircuitBreakerOpen", "AlfredBudgetNearHardLimit",
            "AlfredImageQueueBacklog", "AlfredReservationDrift", "AlfredDeploymentsAtCapacity"} <= names  # fmt: skip
    assert all(rule["health"] != "err" for group in groups for rule in group["rules"]), groups
