"""The composition root: ``build_app(settings)`` wires every part. No module-level state anywhere."""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from alfred.api.anthropic import MessagesEndpoint
from alfred.api.console import ConsoleEndpoint
from alfred.api.health import HealthEndpoint
from alfred.api.http import Receive, Scope, Send
from alfred.api.lazy_app import LazyApp
from alfred.api.metrics_endpoint import MetricsEndpoint
from alfred.api.middleware.security_headers import SecurityHeadersMiddleware
from alfred.api.openai import ChatCompletionsEndpoint, EmbeddingsEndpoint, ModelsEndpoint
from alfred.api.openapi import PATH as OPENAPI_PATH
from alfred.api.openapi import OpenAPIEndpoint
from alfred.api.routes import PathRouter, wrap_outer
from alfred.cache.build import Caches, build_caches
from alfred.config import Settings, load_settings
from alfred.deadlines import Deadlines
from alfred.images.build import ImageRuntime
from alfred.observability.logging import RequestLog
from alfred.observability.metrics import GatewayMetrics
from alfred.observability.tracing import Tracing
from alfred.pipeline import Pipeline, Stage
from alfred.pipeline.build import build_pipeline
from alfred.pipeline.cache import CacheStage
from alfred.pipeline.metering import MeteredHandler
from alfred.pipeline.metrics import MetricsStage
from alfred.pipeline.rate_limit import RateLimitStage, identity_key_limits
from alfred.pipeline.safety import SafetyStage
from alfred.pipeline.stream_limit import StreamLimitStage
from alfred.pipeline.timeout import TimeoutStage
from alfred.providers.transport import HttpTransport
from alfred.routing.build import Routing, build_routing
from alfred.routing.catalog import ModelCatalog
from alfred.safety.scanner import Scanner
from alfred.safety.secrets import SecretRecognizer
from alfred.secrets import SecretResolver
from alfred.state import StateBackend, build_backend
from alfred.vault import secret_resolver

if TYPE_CHECKING:
    from alfred.governance.build import GovernanceRuntime

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
    governance: GovernanceRuntime | None = None
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
                _tune_gc_for_serving()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


# Allocations between two collections of the youngest generation while serving (the default is 700).
_YOUNG_THRESHOLD = 50_000


def _tune_gc_for_serving() -> None:
    """Tune the garbage collector for serving, once startup has built what lives as long as the server.

    What startup built (modules, schemas, settings, clients) is frozen out of the collector's sight:
    requests' short-lived objects trigger full collections, and each one walked this whole heap.
    Garbage is collected first, so none of it is kept for good. The youngest generation is then
    collected every 50,000 allocations instead of 700: a request makes hundreds, so at the default
    every collection found dozens of requests in flight and promoted their objects, feeding the
    full collections. On the pass-through bench the two together cut the CPU per request by ~20%
    (at 10,000); at 128 requests in flight 50,000 took another ~11% off (5 paired rounds, each
    better), at 32 it made no difference beyond noise. What waits for the collector meanwhile is
    reference cycles only, a few megabytes at most.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_YOUNG_THRESHOLD, older, oldest)


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
    deadlines = Deadlines()  # one timer for the timeout stage's and the transport's deadline scopes
    transport = tracing.transport(deadlines=deadlines)
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
        on_capped=metrics.rate_limited,
    )
    key_secret = (resolver.resolve(settings.key_hash_secret) or "").encode()
    caches = _build_caches(settings, state, resolver)
    governance = None
    if settings.governance.enabled:
        from alfred.governance.build import build_governance

        governance = build_governance(
            settings,
            resolver=resolver,
            catalog=catalog,
            group_for=routing.router.group_for,
            metrics=metrics if obs.metrics.enabled else None,
        )
    # One scanner for chat and image prompts: its recognisers compile their patterns once.
    scanner = _scanner(settings) if settings.safety.enabled else None
    stages: dict[str, Stage | None] = {
        "rate_limit": RateLimitStage(
            state.limiter,
            settings.rate_limits,
            key_hash_secret=key_secret,
            key_limits=governance.key_limits if governance else identity_key_limits,
            rejected=metrics.rate_limited,
        )
        if settings.rate_limits.enabled
        else None,
        "auth": governance.auth if governance else None,
        "quota": governance.quota if governance else None,
        "stream_limit": StreamLimitStage(state.kv, settings.stream_limit, key_hash_secret=key_secret)
        if settings.stream_limit.enabled
        else None,
        "safety": SafetyStage(settings.safety, scanner=scanner) if scanner is not None else None,
        "metrics": MetricsStage(metrics) if obs.metrics.enabled else None,
        "cache": CacheStage(
            settings.cache,
            caches.exact,
            caches.semantic,
            cost_of=catalog.cost_usd,
            metrics=metrics,
            generations=caches.generations,
            counters=caches.counters,
        )
        if settings.cache.enabled
        else None,
        "timeout": TimeoutStage(
            settings.pipeline.request_timeout_s, settings.pipeline.max_request_timeout_s, deadlines=deadlines
        ),
    }
    stages = tracing.stages(stages)
    pipeline = build_pipeline(settings.pipeline.order, stages, MeteredHandler(routing.dispatcher))
    components = Components(settings, catalog, transport, pipeline, state, routing, governance=governance)
    if governance is not None:
        components.startup.extend(governance.startup)
        components.shutdown.extend(governance.shutdown)
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
            metrics=metrics if obs.metrics.enabled else None,
            **_image_governance(settings, governance, scanner),
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
    # Built on its first request: FastAPI and the admin routes would add ~0.2 s of CPU to readiness.
    admin = (
        LazyApp(
            partial(
                _admin_app, governance, routing, caches if settings.cache.enabled else None, components.images
            )
        )
        if governance is not None
        else None
    )
    http_app = wrap_outer(
        SecurityHeadersMiddleware(PathRouter(exact, prefixes, fallback=admin)),
        limits.cors_origins,
        request_log,
        cors_allow_credentials=limits.cors_allow_credentials,
    )
    return AlfredApp(http_app, components)


def _scanner(settings: Settings) -> Scanner:
    return Scanner(secrets=SecretRecognizer(entropy_margin=settings.safety.entropy_margin))


def _image_governance(
    settings: Settings, governance: GovernanceRuntime | None, scanner: Scanner | None
) -> dict[str, Any]:
    """What the image endpoints need to apply auth, safety and quota like the chat pipeline does."""
    from alfred.api.images import authenticated_caller
    from alfred.images.prompt_safety import ImagePromptSafety

    hooks: dict[str, Any] = {}
    if scanner is not None:
        hooks["safety"] = ImagePromptSafety(settings.safety, scanner)
    if governance is not None:
        hooks["caller_of"] = authenticated_caller(governance.authenticator.authenticate)
        if settings.governance.quota.enabled:
            hooks["settler"] = governance.ledger.wallets
            hooks["reserver"] = governance.ledger.governance
    return hooks


def _admin_app(
    governance: GovernanceRuntime | None, routing: Routing, caches: Caches | None, images: ImageRuntime | None
) -> Any:
    """The admin API (``/admin/*``, ``/v1/me``) when governance is on: it serves from the ledger."""
    if governance is None:
        return None
    from alfred.api.admin import AdminDeps, build_admin_app

    auth = governance.authenticator
    deps = AdminDeps(governance.ledger, auth.authenticate, auth.invalidate_key, routing, caches, images)
    return build_admin_app(deps)


def _build_caches(settings: Settings, state: StateBackend, resolver: SecretResolver) -> Caches:
    redis_client = None
    if settings.cache.enabled and settings.cache.backend == "redis":
        from alfred.state.redis import connect

        redis_client = connect(settings.state.redis, resolver.resolve(settings.state.redis.password))
    return build_caches(
        settings.cache,
        kv=state.kv if settings.cache.backend == "redis" else None,
        state_kv=state.kv,
        redis=redis_client,
        redis_prefix=settings.state.redis.key_prefix,
    )


def create_app() -> AlfredApp:
    """Factory for ``uvicorn --factory`` and worker processes: config path from ``ALFRED_CONFIG``."""
    settings = load_settings(os.environ.get("ALFRED_CONFIG") or None)
    return build_app(settings)
