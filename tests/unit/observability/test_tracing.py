"""Traces: off costs nothing; on, a span per stage (nested) and per upstream attempt, exported over OTLP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alfred.errors import RateLimitError
from alfred.observability.settings import TracingSettings
from alfred.observability.tracing import TracedStage, TracedTransport, Tracing
from alfred.pipeline import Call, Pipeline
from alfred.providers.base import UpstreamRequest
from alfred.providers.transport import HttpTransport, Timeouts
from alfred.schema import ChatRequest, ChatResponse


class Named:
    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, call, next):
        return await next(call)


async def handler(call: Call) -> ChatResponse:
    call.model_group, call.provider, call.attempts = "gpt", "openai", 1
    return ChatResponse(id="x", model="m", choices=[], created=0)


def make_call() -> Call:
    body = {"model": "gpt", "messages": [{"role": "user", "content": "secret prompt"}]}
    return Call("req-7", "chat", msgspec.convert(body, ChatRequest), {})


def test_off_returns_the_stages_and_transport_untouched() -> None:
    tracing = Tracing(TracingSettings())
    stage = Named("auth")
    assert not tracing.enabled
    assert tracing.stages({"auth": stage, "cache": None}) == {"auth": stage, "cache": None}
    assert type(tracing.transport()) is HttpTransport


async def test_a_span_per_stage_nested_in_pipeline_order() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(TracingSettings(), exporter=exporter)
    stages = tracing.stages({"auth": Named("auth"), "metrics": Named("metrics"), "cache": None})
    assert isinstance(stages["auth"], TracedStage) and stages["cache"] is None
    await Pipeline([stages["auth"], stages["metrics"]], handler).run(make_call())
    tracing.force_flush()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    outer, inner = spans["alfred.stage.auth"], spans["alfred.stage.metrics"]
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    assert (
        outer.attributes["alfred.request_id"] == "req-7" and outer.attributes["alfred.model_group"] == "gpt"
    )
    assert all("secret prompt" not in str(v) for s in spans.values() for v in s.attributes.values())
    await tracing.aclose()


async def test_a_failing_stage_marks_its_span() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(TracingSettings(), exporter=exporter)

    async def refuse(call):
        raise RateLimitError("slow down")

    stages = tracing.stages({"rate_limit": Named("rate_limit")})
    with pytest.raises(RateLimitError):
        await Pipeline([stages["rate_limit"]], refuse).run(make_call())
    tracing.force_flush()
    [span] = exporter.get_finished_spans()
    assert span.attributes["http.response.status_code"] == 429 and not span.status.is_ok


async def test_a_span_per_upstream_attempt(mock_url: str) -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(TracingSettings(), exporter=exporter)
    transport = tracing.transport()
    assert isinstance(transport, TracedTransport)
    await transport.start()
    try:
        body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
        request = UpstreamRequest("POST", f"{mock_url}/v1/chat/completions?key=sekrit",
                                  {"content-type": "application/json", "authorization": "Bearer sk-x"}, body)  # fmt: skip
        response = await transport.send(request, Timeouts(), "openai")
        stream = await transport.open_stream(
            UpstreamRequest("POST", f"{mock_url}/v1/chat/completions", {"content-type": "application/json"},
                            body.replace(b'"messages"', b'"stream":true,"messages"'), stream=True),
            Timeouts(), "openai",
        )  # fmt: skip
        await stream.body()
    finally:
        await transport.close()
    tracing.force_flush()
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["alfred.upstream", "alfred.upstream"]
    assert spans[0].attributes["http.response.status_code"] == response.status == 200
    assert spans[1].attributes["alfred.stream"] == 1
    assert spans[0].attributes["server.address"] == "127.0.0.1"
    assert all("sekrit" not in str(v) and "sk-x" not in str(v) for s in spans for v in s.attributes.values())


class Collector(BaseHTTPRequestHandler):
    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        Collector.received.append((self.path, self.headers.get("x-token"), message))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    server.shutdown()


async def test_spans_are_exported_over_otlp_http(collector: str) -> None:
    tracing = Tracing(
        TracingSettings(otlp_endpoint=collector, headers={"x-token": "t0k"}, service_name="alfred-test")
    )
    stages = tracing.stages({"auth": Named("auth")})
    await Pipeline([stages["auth"]], handler).run(make_call())
    await tracing.aclose()  # flushes the batch
    [(path, token, message)] = Collector.received
    assert path == "/v1/traces" and token == "t0k"
    resource = message.resource_spans[0]
    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
    names = [span.name for scope in resource.scope_spans for span in scope.spans]
    assert service == "alfred-test" and names == ["alfred.stage.auth"]


def test_settings_refuse_a_grpc_style_endpoint() -> None:
    with pytest.raises(ValueError):
        TracingSettings(otlp_endpoint="otel-collector:4317")
