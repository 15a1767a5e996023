"""What the diagrams show, read from the running config: providers, model groups, the pipeline, the image flow.

The renderers take these plain values, never ``Settings`` itself, so a diagram can also be drawn from
figures given by hand (``ImageFlowFacts`` in particular).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from alfred.config import Settings
from alfred.images.settings import ImageSettings


@dataclass(frozen=True)
class ProviderFact:
    """One configured upstream account."""

    name: str
    kind: str


@dataclass(frozen=True)
class GroupFact:
    """One public model name and where it is served from (``provider:model`` per deployment)."""

    name: str
    kind: str
    deployments: tuple[tuple[str, str], ...]
    fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackendFact:
    """One image renderer in a pool: its configured name, kind and concurrent slots."""

    name: str
    kind: str
    slots: int


@dataclass(frozen=True)
class ImageModelFact:
    """One image model: its self-hosted primary pool, its paid fallbacks and the price on each route."""

    name: str
    primary: tuple[BackendFact, ...]
    fallback: tuple[BackendFact, ...]
    primary_price: Decimal
    fallback_price: Decimal


@dataclass(frozen=True)
class ImageFlowFacts:
    """Everything seed 000's image-flow diagram states as a figure."""

    threshold: int = 50
    policy: str = "queue-depth"
    queue_backend: str = "memory"
    cache_enabled: bool = True
    cache_ttl_s: float = 30 * 24 * 3600
    models: tuple[ImageModelFact, ...] = ()
    fallback_spend_cap_per_hour: Decimal | None = None

    @classmethod
    def from_settings(cls, images: ImageSettings) -> ImageFlowFacts:
        def pool(names: list[str]) -> tuple[BackendFact, ...]:
            return tuple(BackendFact(n, images.backends[n].kind, images.backends[n].slots) for n in names)

        models = tuple(
            ImageModelFact(m.name, pool(m.primary), pool(m.fallback), m.prices.primary, m.prices.fallback)
            for m in images.models
        )
        return cls(
            threshold=images.router.threshold,
            policy=images.router.policy,
            queue_backend=images.queue.backend,
            cache_enabled=images.cache.enabled,
            cache_ttl_s=images.cache.ttl_s,
            models=models,
            fallback_spend_cap_per_hour=images.router.fallback_spend_cap_per_hour,
        )


@dataclass(frozen=True)
class Topology:
    """The gateway as configured: what the Mermaid views are drawn from."""

    source: str
    port: int
    providers: tuple[ProviderFact, ...]
    groups: tuple[GroupFact, ...]
    pipeline: tuple[str, ...]
    request_timeout_s: float
    retries: int
    state: str
    database: str
    secrets: str
    images: ImageFlowFacts

    @classmethod
    def from_settings(cls, settings: Settings, source: str) -> Topology:
        providers = tuple(ProviderFact(n, p.kind) for n, p in settings.providers.items())
        groups = tuple(
            GroupFact(g.name, g.kind, tuple((d.provider, d.model) for d in g.deployments), tuple(g.fallbacks))
            for g in settings.models
        )
        images = getattr(settings, "images", None)
        return cls(
            source=source,
            port=settings.server.port,
            providers=providers,
            groups=groups,
            pipeline=tuple(settings.pipeline.order),
            request_timeout_s=settings.pipeline.request_timeout_s,
            retries=settings.retries,
            state=_state(settings),
            database=_database(settings),
            secrets=_secrets(settings),
            images=ImageFlowFacts.from_settings(images)
            if isinstance(images, ImageSettings)
            else ImageFlowFacts(),
        )


# The sections below are read by attribute because each belongs to a part that mounts it in Settings;
# a config without the section gets the embedded default, which is what the gateway then runs.


def _state(settings: Settings) -> str:
    state = getattr(settings, "state", None)
    if getattr(state, "backend", "memory") != "redis":
        return "in-process memory"
    redis = getattr(state, "redis", None)
    sentinels = getattr(redis, "sentinels", None)
    return f"Redis Sentinel ({len(sentinels)} sentinels)" if sentinels else "Redis"


def _database(settings: Settings) -> str:
    ledger = getattr(settings, "ledger", None)
    url = getattr(ledger, "database_url", None)
    engine = "PostgreSQL" if isinstance(url, str) and url.startswith("postgres") else "SQLite"
    return f"{engine} primary + replica" if getattr(ledger, "replica_url", None) else engine


def _secrets(settings: Settings) -> str:
    return "HashiCorp Vault KV v2" if getattr(settings, "vault", None) is not None else "env vars and files"
