"""Deployment rpm caps through a real gateway process and the official OpenAI SDK.

A deployment at its cap is skipped like an unhealthy one; when every deployment of a group (and its
fallbacks) is at its cap the client gets 429 with ``Retry-After``, and /metrics counts the refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.servers import gateway

CONFIG = """\
providers:
  cheap:  {kind: openai, base_url: "${ALFRED_MOCK_URL}/v1", api_key: sk-mock}
  dear:   {kind: openai, base_url: "${ALFRED_MOCK_URL}/v1", api_key: sk-mock}
  spare:  {kind: openai, base_url: "${ALFRED_MOCK_URL}/v1", api_key: sk-mock}
models:
  - name: capped
    deployments:
      - {provider: cheap, model: gpt-4o-mini, rpm: 2, price: {input_per_mtok: "0.1", output_per_mtok: "0.1"}}
      - {provider: dear,  model: gpt-4o-mini, rpm: 1, price: {input_per_mtok: "9", output_per_mtok: "9"}}
  - name: spilling
    deployments: [{provider: cheap, model: gpt-4o, rpm: 1}]
    fallbacks: [backup]
  - name: backup
    deployments: [{provider: spare, model: gpt-4o-mini}]
routing:
  strategy: cheapest-within-sla
"""


@pytest.fixture(scope="module")
def capped_url(mock_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = tmp_path_factory.mktemp("caps") / "caps.yaml"
    config.write_text(CONFIG)
    with gateway(str(config), env={"ALFRED_MOCK_URL": mock_url}) as url:
        yield url


@pytest.fixture
def client(capped_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{capped_url}/v1", api_key="unused", max_retries=0)


def ask(client: openai.OpenAI, model: str) -> str:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hello"}]
    )
    return raw.headers["x-alfred-provider"]


def test_capped_deployments_are_skipped_then_the_group_answers_429(
    client: openai.OpenAI, capped_url: str
) -> None:
    assert [ask(client, "capped") for _ in range(3)] == ["cheap", "cheap", "dear"]
    with pytest.raises(openai.RateLimitError) as refused:
        ask(client, "capped")
    error = refused.value
    assert error.status_code == 429 and "'capped'" in error.message
    assert 1 <= int(error.response.headers["retry-after"]) <= 60
    assert error.body is not None and error.body["type"] == "rate_limit_error"  # type: ignore[index]
    metrics = httpx.get(f"{capped_url}/metrics", timeout=10).text
    assert re.search(r'^alfred_rate_limit_rejections_total\{scope="deployment"\} 1\.0$', metrics, re.M)


def test_a_fallback_group_serves_once_the_primary_is_capped(client: openai.OpenAI) -> None:
    assert [ask(client, "spilling") for _ in range(3)] == ["cheap", "spare", "spare"]
