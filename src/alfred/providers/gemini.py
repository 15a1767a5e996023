"""Canonical ⇄ Google's Gemini Developer API (generativelanguage.googleapis.com).

``POST {base}/{version}/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse`` and
``:batchEmbedContents``, authenticated by the ``x-goog-api-key`` header. ``version`` is ``v1beta``
unless the endpoint's ``api_version`` says otherwise (current SDKs call both ``v1beta`` and ``v1``).
The request mapping is in ``gemini_request.py``, the response side in ``gemini_response.py`` and
``gemini_stream.py``.
"""

from __future__ import annotations

import msgspec

from alfred.errors import AlfredError, UpstreamError
from alfred.providers.base import Endpoint, UpstreamRequest, upstream_error
from alfred.providers.gemini_request import chat_body, embeddings_body, model_path
from alfred.providers.gemini_response import chat_response, error_info
from alfred.providers.gemini_stream import GeminiStreamDecoder
from alfred.schema import (
    ChatRequest,
    ChatResponse,
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
)

DEFAULT_API_VERSION = "v1beta"
_VERSIONS = ("v1", "v1beta", "v1alpha")
_encoder = msgspec.json.Encoder()


class _WireEmbedding(msgspec.Struct):
    values: list[float] = msgspec.field(default_factory=list)


class _WireEmbeddingUsage(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    total_token_count: int = 0


class _WireEmbeddings(msgspec.Struct, rename="camel"):
    embeddings: list[_WireEmbedding] | None = None  # batchEmbedContents
    embedding: _WireEmbedding | None = None  # embedContent
    usage_metadata: _WireEmbeddingUsage | None = None  # not sent today; counted when it is


_embeddings_decoder = msgspec.json.Decoder(_WireEmbeddings)


class GeminiAdapter:
    """Canonical ⇄ Gemini ``generateContent``, its streams, and ``batchEmbedContents``."""

    kind = "gemini"

    # -- requests ---------------------------------------------------------------------------
    def url(self, endpoint: Endpoint, method: str) -> str:
        base = endpoint.base_url.rstrip("/")
        if base.rsplit("/", 1)[-1] not in _VERSIONS:  # a base URL may already name the version
            base = f"{base}/{endpoint.api_version or DEFAULT_API_VERSION}"
        return f"{base}/{model_path(endpoint.model)}:{method}"

    def _headers(self, endpoint: Endpoint) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if endpoint.api_key:
            headers["x-goog-api-key"] = endpoint.api_key
        headers.update(endpoint.headers)
        return headers

    def chat_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        method = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        return UpstreamRequest(
            "POST",
            self.url(endpoint, method),
            self._headers(endpoint),
            _encoder.encode(chat_body(request, endpoint.model)),
            stream=request.stream,
        )

    def embeddings_request(self, request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
        return UpstreamRequest(
            "POST",
            self.url(endpoint, "batchEmbedContents"),
            self._headers(endpoint),
            _encoder.encode(embeddings_body(request, endpoint.model)),
        )

    # -- responses --------------------------------------------------------------------------
    def chat_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        return chat_response(body, endpoint)

    def chat_stream(self, endpoint: Endpoint) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(endpoint)

    def embeddings_response(self, body: bytes, endpoint: Endpoint) -> EmbeddingResponse:
        try:
            wire = _embeddings_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise UpstreamError(f"{endpoint.provider}: malformed Gemini embeddings response ({exc})") from exc
        vectors = (
            wire.embeddings if wire.embeddings is not None else [wire.embedding] if wire.embedding else []
        )
        # Gemini reports no token counts for embeddings: zero tells the pipeline to count them itself.
        tokens = wire.usage_metadata.prompt_token_count if wire.usage_metadata else 0
        return EmbeddingResponse(
            data=[Embedding(index, vector.values) for index, vector in enumerate(vectors)],
            model=endpoint.model,
            usage=EmbeddingUsage(tokens, tokens),
        )

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> AlfredError:
        info = error_info(body)
        if info.reason == "API_KEY_INVALID":
            status = (
                401  # Gemini answers a bad key with 400; it is the gateway's credential, not the caller's
            )
        message = f"{info.message} ({info.status})" if info.status and info.message else info.message
        return upstream_error(
            status,
            message,
            provider=self.kind,
            retry_after=headers.get("retry-after") or info.retry_after,
        )
