"""Optional OpenTelemetry traces: a span per pipeline stage and per upstream attempt.

Off unless ``tracing.otlp_endpoint`` is set (or an exporter is passed, as tests do): then the
OpenTelemetry SDK is imported, spans are batched and exported over OTLP/HTTP, and nothing is
installed globally (the tracer provider belongs to this app). Off, ``Tracing`` returns the stages and
the transport unchanged, so tracing costs nothing.

Spans carry ids and routing facts (request id, endpoint, model group, provider, status), never
prompts, URLs with their query strings, or headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from alfred.errors import AlfredError
from alfred.observability.settings import TracingSettings
from alfred.pipeline.call import Call, Result
from alfred.pipeline.stage import Next, Stage
from alfred.providers.base import UpstreamRequest
from alfred.providers.transport import HttpTransport, Timeouts, UpstreamResponse, UpstreamStream

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer


def _call_attributes(span: Span, call: Call) -> None:
    span.set_attribute("alfred.request_id", call.request_id)
    span.set_attribute("alfred.endpoint", call.endpoint)
    if call.model_group:
        span.set_attribute("alfred.model_group", call.model_group)
    if call.provider:
        span.set_attribute("alfred.provider", call.provider)
        span.set_attribute("alfred.attempts", call.attempts)


class TracedStage:
    """Runs a stage inside a span named ``alfred.stage.<name>``; the stages within nest under it."""

    def __init__(self, stage: Stage, tracer: Tracer) -> None:
        self.name = stage.name
        self._stage = stage
        self._tracer = tracer

    async def __call__(self, call: Call, next: Next) -> Result:
        with self._tracer.start_as_current_span(f"alfred.stage.{self.name}") as span:
            try:
                return await self._stage(call, next)
            except AlfredError as exc:
                span.set_attribute("http.response.status_code", exc.status)
                raise
            finally:
                _call_attributes(span, call)


class TracedTransport(HttpTransport):
    """The transport with a client span per upstream attempt (``alfred.upstream``)."""

    def __init__(self, tracer: Tracer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tracer = tracer

    def _span(self, request: UpstreamRequest, provider: str) -> Any:
        from opentelemetry.trace import SpanKind

        url = urlsplit(request.url)
        attributes: dict[str, str | int] = {
            "alfred.provider": provider,
            "http.request.method": request.method,
            "server.address": url.hostname or "",
            "alfred.stream": int(request.stream),
        }
        if url.port:
            attributes["server.port"] = url.port
        return self._tracer.start_as_current_span(
            "alfred.upstream", kind=SpanKind.CLIENT, attributes=attributes
        )

    async def send(self, request: UpstreamRequest, timeouts: Timeouts, provider: str) -> UpstreamResponse:
        with self._span(request, provider) as span:
            response = await super().send(request, timeouts, provider)
            span.set_attribute("http.response.status_code", response.status)
            return response

    async def open_stream(
        self, request: UpstreamRequest, timeouts: Timeouts, provider: str
    ) -> UpstreamStream:
        # The span covers the wait for the response's headers; the body streams on after it.
        with self._span(request, provider) as span:
            stream = await super().open_stream(request, timeouts, provider)
            span.set_attribute("http.response.status_code", stream.status)
            return stream


class Tracing:
    """This app's tracer provider (or nothing, when tracing is off) and the wrappers that use it."""

    def __init__(self, settings: TracingSettings, exporter: SpanExporter | None = None) -> None:
        self.enabled = settings.otlp_endpoint is not None or exporter is not None
        self._provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        if not self.enabled:
            return
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint, headers=dict(settings.headers))
        self._provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name}),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
        )
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("alfred")

    def stages(self, stages: Mapping[str, Stage | None]) -> dict[str, Stage | None]:
        """The stages, each wrapped in its span when tracing is on."""
        tracer = self._tracer
        if tracer is None:
            return dict(stages)
        return {
            name: TracedStage(stage, tracer) if stage is not None else None for name, stage in stages.items()
        }

    def transport(self, **kwargs: Any) -> HttpTransport:
        """The upstream transport: traced when tracing is on, the plain one otherwise."""
        if self._tracer is None:
            return HttpTransport(**kwargs)
        return TracedTransport(self._tracer, **kwargs)

    def force_flush(self) -> bool:
        return self._provider.force_flush() if self._provider is not None else True

    async def aclose(self) -> None:
        """Export what is batched and stop (the export is blocking I/O: off the loop)."""
        if self._provider is not None:
            await asyncio.to_thread(self._provider.shutdown)
