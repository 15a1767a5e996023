"""The provider adapter contract: canonical ⇄ one provider's wire format, and nothing else.

An adapter builds the upstream HTTP request, parses the response, decodes the stream and maps
errors. It never retries, prices, logs or touches ledgers: those belong to the pipeline and the
router. ``transport.py`` moves the bytes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from alfred.errors import (
    AlfredError,
    InvalidRequestError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
    UpstreamTimeoutError,
)
from alfred.schema import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Everything an adapter needs to address one upstream model (resolved from config)."""

    provider: str  # the configured provider's name, e.g. "openai-main"
    kind: str  # the adapter kind, e.g. "openai", "anthropic"
    base_url: str
    model: str  # the upstream model id (or Azure deployment name)
    api_key: str | None = None
    api_version: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)  # provider-specific: region, project, …


@dataclass(slots=True)
class UpstreamRequest:
    """One HTTP request to send upstream; ``body`` is already encoded."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None
    stream: bool = False


class StreamDecoder(Protocol):
    """Incremental decoder of one upstream stream into canonical chunks.

    ``feed`` takes raw bytes as they arrive (any split) and returns the chunks they complete.
    ``finished`` becomes true once the provider's own end-of-stream marker was seen; a stream that
    reaches EOF without it was cut. A provider's in-stream error event raises ``UpstreamError``.
    """

    finished: bool

    def feed(self, data: bytes) -> list[ChatChunk]: ...

    def close(self) -> list[ChatChunk]: ...


class ProviderAdapter(Protocol):
    """Translation between the canonical schema and one provider's wire format."""

    kind: str

    def chat_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest: ...

    def chat_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse: ...

    def chat_stream(self, endpoint: Endpoint) -> StreamDecoder: ...

    def embeddings_request(self, request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest: ...

    def embeddings_response(self, body: bytes, endpoint: Endpoint) -> EmbeddingResponse: ...

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> AlfredError: ...


def new_tool_call_id() -> str:
    """An OpenAI-style id for a tool call the provider sent without one."""
    return f"call_{uuid.uuid4().hex[:24]}"


def now_s() -> int:
    return int(time.time())


def upstream_error(
    status: int, message: str, *, provider: str, retry_after: str | None = None
) -> AlfredError:
    """Map an upstream HTTP failure to the client-facing error, keeping the provider's message.

    A 401/403 from upstream is the gateway's credential problem, not the caller's, so it becomes
    a 502; other 4xx are the caller's request and keep their status.
    """
    headers = {"retry-after": retry_after} if retry_after else {}
    text = f"{provider}: {message}" if message else f"{provider} returned HTTP {status}"
    if status == 429:
        return RateLimitError(text, headers=headers, code="upstream_rate_limited")
    if status in (401, 403):
        return UpstreamError(text, code="upstream_authentication_error", retryable=True)
    if status == 408:
        return UpstreamTimeoutError(text)
    if status == 503 or status == 529:  # 529: Anthropic's "overloaded"
        return ServiceUnavailableError(text, headers=headers)
    if status == 504:
        return UpstreamTimeoutError(text)
    if status >= 500:
        err = UpstreamError(text)
        err.status = 502
        return err
    err2 = InvalidRequestError(text, retryable=False)
    err2.status = status if status in (400, 404, 413, 422) else 400
    if status == 404:
        err2.code = "not_found"
    return err2


def not_supported(kind: str, what: str) -> AlfredError:
    return InvalidRequestError(f"provider kind {kind!r} does not support {what}", code="unsupported_endpoint")
