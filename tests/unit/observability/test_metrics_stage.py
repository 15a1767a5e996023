"""The Metrics stage: in flight, recorded once when the call ends, latency split, statuses."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alfred.errors import RateLimitError, UpstreamError
from alfred.observability.metrics import GatewayMetrics
from alfred.pipeline import Call, Pipeline
from alfred.pipeline.metrics import MICROS_PER_USD, MetricsStage, latency_split, status_of
from alfred.schema import ChatRequest, ChatResponse, Usage

MS = 1_000_000


def make_call(stream: bool = False, team: str | None = "team-a") -> Call:
    body = {"model": "gpt", "stream": stream, "messages": [{"role": "user", "content": "hello"}]}
    call = Call("rid", "chat", msgspec.convert(body, ChatRequest), {})
    call.identity.team_id = team
    return call


def answered_by_upstream(upstream_ms: int = 40, cost_micros: int = 250_000):
    async def handler(call: Call) -> ChatResponse:
        call.model_group, call.provider, call.upstream_model, call.attempts = (
            "gpt",
            "openai",
            "gpt-4o-mini",
            1,
        )
        call.upstream_ns = upstream_ms * MS
        call.usage = Usage(7, 11, 18)
        call.cost_micros = cost_micros
        call.outcome = "ok"
        return ChatResponse(id="x", model="gpt-4o-mini", choices=[], created=0)

    return handler


def failing(error: BaseException):
    async def handler(call: Call) -> ChatResponse:
        raise error

    return handler


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(metrics.render()[0].decode()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


async def finish(call: Call, now_ns: int) -> None:
    """What api.calls.finish does once the response is out."""
    call.finished_ns = now_ns
    for hook in call.finish_hooks:
        await hook(call)


def make(handler) -> tuple[GatewayMetrics, Pipeline]:
    metrics = GatewayMetrics(groups=["gpt"], deployments=[("gpt", "openai", "gpt-4o-mini")])
    return metrics, Pipeline([MetricsStage(metrics)], handler)


async def test_a_response_is_recorded_when_it_has_finished_not_before() -> None:
    metrics, pipeline = make(answered_by_upstream(upstream_ms=40, cost_micros=250_000))
    call = make_call()
    await pipeline.run(call)
    assert value(metrics, "alfred_requests_in_flight", endpoint="chat") == 1
    assert value(metrics, "alfred_requests_total") is None  # the body is not out yet
    await finish(call, call.started_ns + 45 * MS)
    assert value(metrics, "alfred_requests_in_flight", endpoint="chat") == 0
    assert value(metrics, "alfred_requests_total", status="200", model_group="gpt", provider="openai") == 1
    assert value(metrics, "alfred_tokens_total", direction="in") == 7
    assert value(metrics, "alfred_tokens_total", direction="out") == 11
    assert value(metrics, "alfred_cost_usd_total", team="team-a") == pytest.approx(250_000 / MICROS_PER_USD)
    assert value(metrics, "alfred_upstream_latency_seconds_sum") == pytest.approx(0.040)
    assert value(metrics, "alfred_gateway_overhead_seconds_sum") == pytest.approx(0.005)
    assert value(metrics, "alfred_request_duration_seconds_sum") == pytest.approx(0.045)
    assert value(metrics, "alfred_time_to_first_token_seconds_count") is None


async def test_a_stream_splits_latency_at_its_first_chunk() -> None:
    metrics, pipeline = make(answered_by_upstream(upstream_ms=30))
    call = make_call(stream=True)
    await pipeline.run(call)
    call.first_chunk_ns = call.started_ns + 32 * MS
    await finish(call, call.started_ns + 900 * MS)
    assert value(metrics, "alfred_time_to_first_token_seconds_sum") == pytest.approx(0.032)
    assert value(metrics, "alfred_gateway_overhead_seconds_sum") == pytest.approx(0.002)
    assert value(metrics, "alfred_request_duration_seconds_sum") == pytest.approx(0.9)


async def test_a_failure_is_recorded_on_the_spot_with_its_status() -> None:
    metrics, pipeline = make(failing(RateLimitError("slow down")))
    call = make_call()
    with pytest.raises(RateLimitError):
        await pipeline.run(call)
    assert call.finish_hooks == []
    assert value(metrics, "alfred_requests_total", status="429", model_group="none") == 1
    assert value(metrics, "alfred_requests_in_flight", endpoint="chat") == 0
    assert value(metrics, "alfred_upstream_latency_seconds_count") is None  # never reached an upstream


async def test_cancellation_counts_as_client_gone() -> None:
    metrics, pipeline = make(failing(asyncio.CancelledError()))
    with pytest.raises(asyncio.CancelledError):
        await pipeline.run(make_call())
    assert value(metrics, "alfred_requests_total", status="499") == 1
    metrics2, pipeline2 = make(failing(ValueError("bug")))
    with pytest.raises(ValueError):
        await pipeline2.run(make_call())
    assert value(metrics2, "alfred_requests_total", status="500") == 1


async def test_a_stream_cut_by_the_upstream_reports_the_error_status() -> None:
    metrics, pipeline = make(answered_by_upstream())
    call = make_call(stream=True)
    await pipeline.run(call)
    call.outcome, call.error = "cut", UpstreamError("upstream went away", status=502)
    await finish(call, call.started_ns + 10 * MS)
    assert value(metrics, "alfred_requests_total", status="502", model_group="gpt") == 1


def test_status_and_split_helpers() -> None:
    call = make_call()
    assert status_of(call) == 200
    call.outcome = "cancelled"
    assert status_of(call) == 499
    call.upstream_ns = 10 * MS
    assert latency_split(call, call.started_ns + 4 * MS) == (4 * MS, 0, None)  # never negative


def test_cost_unit_matches_the_ledger() -> None:
    from alfred.ledger.money import MICROS_PER_USD as LEDGER_MICROS_PER_USD

    assert MICROS_PER_USD == LEDGER_MICROS_PER_USD
