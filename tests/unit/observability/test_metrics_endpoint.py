"""GET /metrics over ASGI: Prometheus text by default, OpenMetrics when asked."""

from __future__ import annotations

from alfred.api.metrics_endpoint import MetricsEndpoint
from alfred.observability.metrics import GatewayMetrics
from alfred.observability.settings import MetricsSettings, ObservabilitySettings


async def get(
    endpoint: MetricsEndpoint, accept: bytes | None = None
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"accept", accept)] if accept else []
    await endpoint({"type": "http", "method": "GET", "path": "/metrics", "headers": headers}, None, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


async def test_serves_prometheus_text() -> None:
    metrics = GatewayMetrics(groups=["gpt"], deployments=[("gpt", "openai", "m")])
    metrics.request(("chat", "gpt", "openai", "m", 200, "miss", None), total_s=0.1, overhead_s=0.001,
                    upstream_s=0.099, ttft_s=None, tokens_in=1, tokens_out=2, cost_usd=None)  # fmt: skip
    status, headers, body = await get(MetricsEndpoint(metrics))
    assert status == 200 and headers[b"content-type"].startswith(b"text/plain; version=0.0.4")
    assert b'alfred_requests_total{cache="miss",deployment="gpt/openai/m"' in body
    status, headers, body = await get(
        MetricsEndpoint(metrics), b"application/openmetrics-text; version=1.0.0"
    )
    assert headers[b"content-type"].startswith(b"application/openmetrics-text") and body.endswith(b"# EOF\n")


def test_settings_forbid_unknown_keys() -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError):
        ObservabilitySettings.model_validate({"metrics": {"enabeld": True}})
    assert ObservabilitySettings.model_validate({"logging": {"log_prompts": True}}).logging.log_prompts
    assert MetricsSettings().path == "/metrics"
