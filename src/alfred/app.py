"""The composition root: ``build_app(settings)`` wires every part. No module-level state anywhere."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from alfred.api.anthropic import MessagesEndpoint
from alfred.api.console import ConsoleEndpoint
from alfred.api.health import HealthEndpoint
from alfred.api.http import Receive, Scope, Send
from alfred.api.metrics_endpoint import MetricsEndpoint
from alfred.api.middleware.security_headers import SecurityHeadersMiddleware
from alfred.api.openai import ChatCompletionsEndpoint, EmbeddingsEndpoint, ModelsEndpoint
from alfred.api.openapi import PATH as OPENAPI_PATH
from alfred.api.openapi import OpenAPIEndpoint
from alfred.api.routes import PathRouter, wrap_outer
from alfred.cache.build import Caches, build_caches
from alfred.config import Settings, load_settings
from alfred.images.build import ImageRuntime
from alfred.observability.logging import RequestLog
from alfred.observability.metrics import GatewayMetrics
from alfred.observability.tracing import Tracing
from alfred.pipeline import Pipeline, Stage
from alfred.pipeline.build import build_pipeline
from alfred.pipeline.cache import CacheStage
from alfred.pipeline.metering import MeteredHandler
from alfred.pipeline.metrics import MetricsStage
from alfred.pipeline.rate_limit import RateLimitStage
from alfred.pipeline.safety import SafetyStage
from alfred.pipeline.stream_limit import StreamLimitStage
from alfred.pipeline.timeout import TimeoutStage
from alfred.providers.transport import HttpTransport
from alfred.routing.build import Routing, build_routing
from alfred.routing.catalog import ModelCatalog
from alfred.secrets import SecretResolver
from alfred.state import StateBackend, build_backend
from alfred.vault import secret_resolver

log = logging.getLogger("alfred")

BUILTIN_MOCK = "builtin-mock"  # a base_url prefix: the mock upstream run inside this very process


@dataclass
class Components:
    """The parts a running gateway is made of, for tests and admin endpoints to reach."""

    settings: Settings
    catalog: ModelCatalog
    transport: HttpTransport
    pipeline: Pipeline
    state: StateBackend
    routing: Routing
    images: ImageRuntime | None = None
    startup: list[Any] = field(default_factory=list)
    shutdown: list[Any] = field(default_factory=list)


class AlfredApp:
    """The ASGI application: lifespan starts and stops the components; HTTP goes to the router."""

    def __init__(self, http_app: Any, components: Components) -> None:
        self._http = http_app
        self.components = components

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self._http(scope, receive, send)

    async def startup(self) -> None:
        for hook in self.components.startup:
            await hook()

    async def shutdown(self) -> None:
        for hook in reversed(self.components.shutdown):
            await hook()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _uses_builtin_mock(settings: Settings) -> bool:
    def mocked(value: object) -> bool:
        return isinstance(value, str) and value.startswith(BUILTIN_MOCK)

    return any(mocked(p.base_url) for p in settings.providers.values()) or any(
        mocked(b.options.get("base_url")) for b in settings.images.backends.values()
    )


def _with_builtin_mock(settings: Settings, url: str) -> Settings:
    """Point ``builtin-mock…`` base URLs (providers and image backends) at the embedded mock."""

    def swap(value: str) -> str:
        return url + value[len(BUILTIN_MOCK) :] if value.startswith(BUILTIN_MOCK) else value

    providers = {
        name: p.model_copy(update={"base_url": swap(p.base_url)}) if p.base_url else p
        for name, p in settings.providers.items()
    }
    backends = {
        name: b.model_copy(update={"options": {**b.options, "base_url": swap(str(b.options["base_url"]))}})
        if isinstance(b.options.get("base_url"), str)
        else b
        for name, b in settings.images.backends.items()
    }
    images = settings.images.model_copy(update={"backends": backends})
    return settings.model_copy(update={"providers": providers, "images": images})


def _public_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104  # nosec B104 - comparing, not binding


def build_app(settings: Settings, *, resolver: SecretResolver | None = None) -> AlfredApp:
    """Wire the gateway from settings."""
    embedded_mock = None
    if _uses_builtin_mock(settings):
        from alfred.mock.embedded import EmbeddedMock

        embedded_mock = EmbeddedMock()
        settings = _with_builtin_mock(settings, embedded_mock.url)
    resolver = resolver or secret_resolver(settings.vault)
    catalog = ModelCatalog.from_settings(settings, resolver)
    obs = settings.observability
    tracing = Tracing(obs.tracing)
    transport = tracing.transport()
    metrics = GatewayMetrics(
        obs.metrics,
        groups=[g.name for g in catalog.groups()],
        deployments=[
            (d.group, d.endpoint.provider, d.endpoint.model) for g in catalog.groups() for d in g.deployments
        ],
    )
    state = build_backend(settings.state, password=resolver.resolve(settings.state.redis.password))
    routing = build_routing(
        settings,
        catalog,
        transport,
        state,
        on_transition=lambda t: metrics.breaker_transition(t.key, t.source, t.target),
    )
    key_secret = (resolver.resolve(settings.key_hash_secret) or "").encode()
    caches = _build_caches(settings, state, resolver)
    stages: dict[str, Stage | None] = {
        "rate_limit": RateLimitStage(state.limiter, settings.rate_limits, key_hash_secret=key_secret)
        if settings.rate_limits.enabled
        else None,
        "auth": None,
        "quota": None,
        "stream_limit": StreamLimitStage(state.kv, settings.stream_limit, key_hash_secret=key_secret)
        if settings.stream_limit.enabled
        else None,
        "safety": SafetyStage(settings.safety) if settings.safety.enabled else None,
        "metrics": MetricsStage(metrics) if obs.metrics.enabled else None,
        "cache": CacheStage(settings.cache, caches.exact, caches.semantic)
        if settings.cache.enabled
        else None,
        "timeout": TimeoutStage(settings.pipeline.request_timeout_s, settings.pipeline.max_request_timeout_s),
    }
    stages = tracing.stages(stages)
    pipeline = build_pipeline(settings.pipeline.order, stages, MeteredHandler(routing.dispatcher))
    components = Components(settings, catalog, transport, pipeline, state, routing)
    components.startup.append(transport.start)
    components.shutdown.append(transport.close)
    if settings.cache.enabled:
        components.startup.append(caches.start)
        components.shutdown.append(caches.close)
    components.shutdown.append(state.close)
    request_log = RequestLog(obs.logging)
    components.shutdown.extend([metrics.aclose, tracing.aclose, request_log.aclose])

    limits = settings.server
    chat = ChatCompletionsEndpoint(pipeline, limits)
    health = HealthEndpoint({})
    exact = {
        ("POST", "/v1/chat/completions"): chat,
        ("POST", "/chat/completions"): chat,
        ("POST", "/v1/embeddings"): EmbeddingsEndpoint(pipeline, limits),
        ("POST", "/v1/messages"): MessagesEndpoint(pipeline, limits),
        ("GET", "/v1/models"): ModelsEndpoint(catalog),
        ("GET", "/health/live"): health,
        ("GET", "/health/ready"): health,
        ("GET", OPENAPI_PATH): OpenAPIEndpoint.for_deployment(
            limits, auth_required=stages.get("auth") is not None
        ),
    }
    if obs.metrics.enabled:
        exact[("GET", obs.metrics.path)] = MetricsEndpoint(metrics)
    prefixes: list[tuple[str, str, Any]] = [("GET", "/v1/models/", ModelsEndpoint(catalog))]
    if settings.images.enabled and settings.images.models:
        from alfred.composition.images import build_images

        images = build_images(
            settings.images,
            settings.storage,
            state=state,
            transport=transport,
            resolver=resolver,
            max_body_bytes=limits.max_body_bytes,
            public_origin=f"http://{_public_host(limits.host)}:{limits.port}",
        )
        exact.update(images.exact)
        prefixes.extend(images.prefixes)
        components.startup.append(images.runtime.start)
        components.shutdown.insert(0, images.runtime.stop)
        components.images = images.runtime
    console = ConsoleEndpoint()
    prefixes.extend([("GET", "/console", console), ("HEAD", "/console", console)])
    if embedded_mock is not None:
        components.startup.insert(0, embedded_mock.start)
        components.shutdown.append(embedded_mock.stop)
    http_app = wrap_outer(
        SecurityHeadersMiddleware(PathRouter(exact, prefixes)),
        limits.cors_origins,
        request_log,
        cors_allow_credentials=limits.cors_allow_credentials,
    )
    return AlfredApp(http_app, components)


def _build_caches(settings: Settings, state: StateBackend, resolver: SecretResolver) -> Caches:
    redis_client = None
    if settings.cache.enabled and settings.cache.backend == "redis":
        from alfred.state.redis import connect

        redis_client = connect(settings.state.redis, resolver.resolve(settings.state.redis.password))
    return build_caches(
        settings.cache,
        kv=state.kv if settings.cache.backend == "redis" else None,
        redis=redis_client,
        redis_prefix=settings.state.redis.key_prefix,
    )


def create_app() -> AlfredApp:
    """Factory for ``uvicorn --factory`` and worker processes: config path from ``ALFRED_CONFIG``."""
    settings = load_settings(os.environ.get("ALFRED_CONFIG") or None)
    return build_app(settings)
