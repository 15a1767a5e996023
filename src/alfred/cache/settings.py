"""Cache settings: exact (L1 in process, L2 in Redis) and semantic, with per-model-group overrides."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeVar

from pydantic import Field, model_validator

from alfred.configbase import Strict

T = TypeVar("T")


class SemanticCacheSettings(Strict):
    """The semantic cache: embed the last user turn, answer from a close enough earlier question."""

    enabled: bool = False
    threshold: float = Field(
        0.95, gt=0, le=1, description="cosine similarity at or above which a match answers"
    )
    guard: bool = Field(True, description="also require negation, numbers, units, names, languages to agree")
    embedder: Literal["local", "provider"] = Field(
        "local", description="local: all-MiniLM-L6-v2 (int8 ONNX) in process; provider: embedding_model"
    )
    embedding_model: str | None = Field(
        None, description="an embeddings model group, when embedder is provider"
    )
    embedding_dimensions: int | None = Field(
        None, gt=0, description="its vector size, when embedder is provider"
    )
    intra_op_threads: int = Field(1, ge=1, le=64, description="onnxruntime threads per embedding")
    max_entries: int = Field(
        100_000, ge=1, description="vectors kept in each process's index (oldest go first)"
    )
    candidates: int = Field(5, ge=1, le=50, description="best matches checked by the guard, best first")
    sync_interval_s: float = Field(
        1.0, ge=0, description="how often a process pulls the entries other processes stored (Redis backend)"
    )

    @model_validator(mode="after")
    def _provider_needs_model(self) -> SemanticCacheSettings:
        if self.embedder == "provider" and not (self.embedding_model and self.embedding_dimensions):
            raise ValueError("semantic.embedder 'provider' needs embedding_model and embedding_dimensions")
        return self


class GroupCacheSettings(Strict):
    """Overrides for one model group; unset fields take the cache-wide value."""

    enabled: bool | None = None
    ttl_s: float | None = Field(None, gt=0)
    semantic: bool | None = None
    threshold: float | None = Field(None, gt=0, le=1)
    shared: bool | None = Field(
        None, description="entries shared across tenants (public, non-personal models)"
    )
    cache_temperature: bool | None = Field(None, description="also cache requests with temperature > 0")
    price_per_hit_usd: Decimal | None = Field(None, ge=0)


class CacheSettings(Strict):
    """Response caching. Off by default; ``backend: redis`` adds L2 and shares semantic entries."""

    enabled: bool = False
    backend: Literal["memory", "redis"] = Field(
        "memory", description="memory: this process only (L1); redis: L1 in front of Redis (L2)"
    )
    ttl_s: float = Field(3600.0, gt=0, description="how long an answer is served as fresh")
    stale_ttl_s: float = Field(
        86400.0, ge=0, description="how much longer it may be served as stale while every deployment is down"
    )
    serve_stale: bool = Field(True, description="answer from an expired entry when every deployment fails")
    l1_max_entries: int = Field(10_000, ge=1)
    l1_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_entry_bytes: int = Field(1024 * 1024, ge=1024, description="larger answers are not cached")
    cache_temperature: bool = Field(
        False,
        description="cache requests with temperature > 0 (or unset, which means the provider's default)",
    )
    shared_groups: list[str] = Field(
        default_factory=list, description="groups whose entries every tenant shares"
    )
    price_per_hit_usd: Decimal = Field(Decimal(0), ge=0, description="what a cache hit is charged")
    key_prefix: str = Field("cache:", description="after the Redis key prefix")
    replay_chunk_chars: int = Field(48, ge=1, description="text per chunk when a hit is replayed as a stream")
    semantic: SemanticCacheSettings = Field(default_factory=SemanticCacheSettings)
    groups: dict[str, GroupCacheSettings] = Field(default_factory=dict)

    def group(self, name: str) -> GroupPolicy:
        """The effective policy for one model group."""
        override = self.groups.get(name, GroupCacheSettings())
        return GroupPolicy(
            enabled=_pick(override.enabled, self.enabled),
            ttl_s=_pick(override.ttl_s, self.ttl_s),
            stale_ttl_s=self.stale_ttl_s,
            semantic=_pick(override.semantic, self.semantic.enabled),
            threshold=_pick(override.threshold, self.semantic.threshold),
            shared=_pick(override.shared, name in self.shared_groups),
            cache_temperature=_pick(override.cache_temperature, self.cache_temperature),
            price_per_hit_usd=_pick(override.price_per_hit_usd, self.price_per_hit_usd),
        )


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    """One model group's resolved cache policy."""

    enabled: bool
    ttl_s: float
    stale_ttl_s: float
    semantic: bool
    threshold: float
    shared: bool
    cache_temperature: bool
    price_per_hit_usd: Decimal
