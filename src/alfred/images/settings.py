"""Typed settings of the image pipeline: models and their pools, router policy, queue, cache, webhooks.

Nested under the top-level settings as ``images:``. The queue threshold is usually written
``threshold: ${ALFRED_IMAGE_QUEUE_THRESHOLD:-50}`` in YAML, which ``alfred.config`` expands.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RoutePolicy = Literal["queue-depth", "predicted-wait", "always-primary", "always-fallback"]
Licence = Literal["commercial", "non-commercial", "unknown"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("prices cannot be negative")
    return value


class BackendSettings(_Strict):
    """One configured renderer: its kind (which constructor builds it) and that constructor's options."""

    kind: str = Field(
        min_length=1, description="diffusers | space | replicate | openai-images | synthetic | …"
    )
    slots: int = Field(1, ge=1, le=256, description="jobs it can run at once (one backend instance per slot)")
    model: str | None = Field(None, description="the upstream model id; defaults to the image model's name")
    options: dict[str, Any] = Field(default_factory=dict, description="passed to the kind's constructor")


class RoutePrices(_Strict):
    """USD per image on each route; a cache hit costs nothing."""

    primary: Decimal = Decimal(0)
    fallback: Decimal = Decimal("0.0023")

    _check = field_validator("primary", "fallback")(_non_negative)


class ImageModelSettings(_Strict):
    """A public image model name, its primary pool, its fallbacks and its defaults."""

    name: str = Field(min_length=1)
    primary: list[str] = Field(default_factory=list, description="backend names of the self-hosted pool")
    fallback: list[str] = Field(
        default_factory=list, description="backend names tried in order when routed away"
    )
    size: str = Field("1024x1024", pattern=r"^\d{2,5}x\d{2,5}$")
    steps: int = Field(30, ge=1, le=200)
    guidance: float = Field(5.0, ge=0, le=50)
    prices: RoutePrices = Field(default_factory=RoutePrices)
    licence: Licence = Field("unknown", description="may its images be used commercially?")

    @model_validator(mode="after")
    def _has_a_backend(self) -> ImageModelSettings:
        if not self.primary and not self.fallback:
            raise ValueError(f"image model {self.name!r} needs at least one primary or fallback backend")
        return self


class RouterSettings(_Strict):
    """How a job picks its route (the seed's rule by default: primary while the queue is short)."""

    policy: RoutePolicy = "queue-depth"
    threshold: int = Field(50, ge=0, description="primary queue depth at which new jobs go to fallback")
    default_deadline_s: float = Field(
        60.0, gt=0, description="deadline for predicted-wait when a request sets none"
    )
    service_time_prior_s: float = Field(30.0, gt=0, description="mean generation time before any is measured")
    service_time_alpha: float = Field(0.2, gt=0, le=1, description="EWMA weight of each new measurement")
    fallback_spend_cap_per_hour: Decimal | None = Field(
        None, description="USD; once reached within the last hour, jobs stay on primary"
    )

    @field_validator("fallback_spend_cap_per_hour")
    @classmethod
    def _cap_non_negative(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else _non_negative(value)


class QueueSettings(_Strict):
    """Where queued jobs wait: in this process, a Redis stream per model and route, or Kafka topics."""

    backend: Literal["memory", "redis", "kafka"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    prefix: str = Field("alfred:images:", description="Redis key prefix / Kafka topic prefix")
    visibility_timeout_s: float = Field(
        60.0, gt=0, description="a job whose worker stops heart-beating this long is given to another"
    )
    max_deliveries: int = Field(5, ge=1, description="after this many deliveries a job is dead-lettered")
    block_s: float = Field(1.0, gt=0, le=30, description="how long an idle worker waits for work per poll")


class JobStoreSettings(_Strict):
    """Where job records live and how long they are kept after they finish."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "alfred:images:"
    ttl_s: float = Field(7 * 24 * 3600, gt=0)


class ResultCacheSettings(_Strict):
    """The exact result cache: L1 in this process, L2 in the shared key-value store."""

    enabled: bool = True
    ttl_s: float = Field(30 * 24 * 3600, gt=0)
    l1_size: int = Field(10_000, ge=0)


class WebhookSettings(_Strict):
    """Signed job callbacks (Standard Webhooks) and where they may go."""

    secret: str | None = Field(None, description="whsec_<base64>; a secret reference or literal")
    allow_private_targets: bool = Field(
        False, description="allow loopback and private addresses (cloud metadata stays refused)"
    )
    allow_hosts: list[str] = Field(default_factory=list, description="hosts always allowed (exact names)")
    timeout_s: float = Field(10.0, gt=0)
    attempts: int = Field(4, ge=1, le=20)
    backoff_s: float = Field(1.0, ge=0)


class WorkerSettings(_Strict):
    """Workers started inside the gateway process (the embedded default); ``alfred worker`` runs more."""

    embedded: bool = True
    retries: int = Field(1, ge=0, le=10, description="other backends tried after a retryable failure")
    heartbeat_s: float = Field(5.0, gt=0, description="how often a running job proves its worker alive")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="where `alfred worker` serves GET /metrics (unset: not served)"
    )


class ImageSettings(_Strict):
    """The whole image pipeline."""

    enabled: bool = True
    default_model: str | None = None
    backends: dict[str, BackendSettings] = Field(default_factory=dict)
    models: list[ImageModelSettings] = Field(default_factory=list)
    router: RouterSettings = Field(default_factory=RouterSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    jobs: JobStoreSettings = Field(default_factory=JobStoreSettings)
    cache: ResultCacheSettings = Field(default_factory=ResultCacheSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    presets_file: str | None = Field(
        None, description="YAML file of presets; the built-in weapon preset otherwise"
    )
    max_images: int = Field(10, ge=1, le=100, description="the most images (n) one request may ask for")
    max_pixels: int = Field(2048 * 2048, ge=64 * 64)
    default_wait_s: float = Field(60.0, ge=0)
    max_wait_s: float = Field(600.0, ge=0)
    commercial: bool = Field(
        False, description="a commercial deployment: warn on non-commercial model licences"
    )
    background_removal: Literal["auto", "rembg", "border"] = Field(
        "auto",
        description="background: transparent uses rembg, the border method (plain backgrounds), or auto: "
        "rembg when its weights are on disk, else border",
    )
    background_model: str = Field(
        "u2net", min_length=1, description="the rembg model (e.g. u2net, isnet-anime)"
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> ImageSettings:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"image model names must be unique; repeated: {', '.join(dupes)}")
        for index, model in enumerate(self.models):
            for route in ("primary", "fallback"):
                for backend in getattr(model, route):
                    if backend not in self.backends:
                        known = ", ".join(sorted(self.backends)) or "none"
                        raise ValueError(
                            f"images.models[{index}].{route}: unknown backend {backend!r} (configured: {known})"
                        )
        if self.default_model is not None and self.default_model not in names:
            raise ValueError(f"images.default_model: unknown image model {self.default_model!r}")
        return self

    def model(self, name: str | None) -> ImageModelSettings | None:
        """The named model, or the default one (the first configured) when ``name`` is None."""
        wanted = name or self.default_model or (self.models[0].name if self.models else None)
        return next((m for m in self.models if m.name == wanted), None)
