"""The Call: everything the gateway knows about one request, read and written by every stage."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from alfred.providers.stream import ChunkStream
from alfred.schema import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Usage

ChatResult = ChatResponse | ChunkStream
Result = ChatResult | EmbeddingResponse
FinishHook = Callable[["Call"], Awaitable[None]]
IdentityKind = Literal["anonymous", "master", "key", "jwt"]


@dataclass(slots=True)
class Identity:
    """Who is calling (filled by the auth stage)."""

    key_id: str | None = None
    key_prefix: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    is_admin: bool = False
    allowed_models: frozenset[str] | None = None
    priority: bool = False
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    budget: int | None = None  # the key's own budget in micro-credits (the ledger enforces it)
    kind: IdentityKind = "anonymous"


@dataclass(slots=True)
class Call:
    """One request's state as it flows through the pipeline to a provider and back."""

    request_id: str
    endpoint: str  # "chat" | "embeddings" | "messages" | "images"
    request: ChatRequest | EmbeddingRequest
    headers: dict[str, str]
    client_ip: str | None = None
    started_ns: int = field(default_factory=time.perf_counter_ns)
    identity: Identity = field(default_factory=Identity)
    # routing outcome
    model_group: str | None = None
    provider: str | None = None
    provider_kind: str | None = None
    upstream_model: str | None = None
    deployment_id: str | None = None
    attempts: int = 0
    # metering
    usage: Usage | None = None
    usage_reported: bool = False  # True when usage came from the provider, not our estimate
    upstream_ns: int = 0  # time spent waiting on the upstream (whole call, or to first chunk)
    first_chunk_ns: int | None = None
    finished_ns: int | None = None
    outcome: str = "pending"  # ok | error | cut | cancelled
    error: Exception | None = None
    cost_micros: int | None = None
    cache_status: str | None = None
    privacy: bool = False
    response_headers: dict[str, str] = field(default_factory=dict)
    finish_hooks: list[FinishHook] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def stream(self) -> bool:
        return isinstance(self.request, ChatRequest) and self.request.stream

    def on_finish(self, hook: FinishHook) -> None:
        """Run ``hook`` once the response has been fully delivered (or failed, or been cut)."""
        self.finish_hooks.append(hook)

    def elapsed_ms(self) -> float:
        return (time.perf_counter_ns() - self.started_ns) / 1e6
