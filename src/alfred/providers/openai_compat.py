"""OpenAI's chat and embeddings wire format, shared by every provider that speaks it.

OpenAI, Azure OpenAI, Groq, Together, Mistral, Hugging Face (TGI / Inference Providers) and
Ollama's OpenAI-compatible endpoint differ only in how they are addressed and authenticated and in
a few stream quirks; each is a ``Flavor`` of the one adapter below (see PROVIDER-NOTES.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from alfred.errors import AlfredError, UpstreamError
from alfred.providers.base import Endpoint, UpstreamRequest, now_s, upstream_error
from alfred.providers.sse import SSEParser
from alfred.schema import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Usage,
)

_json_encoder = msgspec.json.Encoder()
_chunk_decoder = msgspec.json.Decoder(dict[str, Any])
_response_decoder = msgspec.json.Decoder(ChatResponse)
_finish_reason_aliases = {"eos": "stop", "eos_token": "stop", "end_turn": "stop", "length": "length"}  # nosec B105 - finish reasons, not passwords


@dataclass(frozen=True, slots=True)
class Flavor:
    """How one OpenAI-compatible provider is addressed, and its deviations from OpenAI."""

    kind: str
    chat_path: str = "/chat/completions"
    embeddings_path: str | None = "/embeddings"
    auth_header: str = "authorization"  # "authorization" → "Bearer KEY"; anything else → raw key
    send_stream_usage: bool = True  # ask upstream for stream usage (stream_options.include_usage)
    url_for: Callable[[Endpoint, str], str] | None = None
    body_model: bool = True  # whether the body names the model (Azure names it in the URL)


def _azure_url(endpoint: Endpoint, path: str) -> str:
    version = endpoint.api_version or "2024-10-21"
    base = endpoint.base_url.rstrip("/")
    return f"{base}/openai/deployments/{endpoint.model}{path}?api-version={version}"


FLAVORS: dict[str, Flavor] = {
    "openai": Flavor("openai"),
    "azure": Flavor("azure", auth_header="api-key", url_for=_azure_url, body_model=False),
    "groq": Flavor("groq"),
    "together": Flavor("together"),
    "mistral": Flavor("mistral"),
    "huggingface": Flavor("huggingface", embeddings_path=None),
    "openai-compatible": Flavor("openai-compatible"),
}


class OpenAICompatAdapter:
    """Canonical ⇄ OpenAI wire format, parameterised by a ``Flavor``."""

    def __init__(self, flavor: Flavor) -> None:
        self.flavor = flavor
        self.kind = flavor.kind

    # -- requests ---------------------------------------------------------------------------
    def _url(self, endpoint: Endpoint, path: str) -> str:
        if self.flavor.url_for is not None:
            return self.flavor.url_for(endpoint, path)
        return endpoint.base_url.rstrip("/") + path

    def _headers(self, endpoint: Endpoint) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if endpoint.api_key:
            if self.flavor.auth_header == "authorization":
                headers["authorization"] = f"Bearer {endpoint.api_key}"
            else:
                headers[self.flavor.auth_header] = endpoint.api_key
        headers.update(endpoint.headers)
        return headers

    def chat_body(self, request: ChatRequest, endpoint: Endpoint) -> dict[str, Any]:
        """The wire body: the canonical request with the upstream model and unknown fields restored."""
        body: dict[str, Any] = msgspec.to_builtins(request)
        extra = body.pop("extra", None)
        if extra:
            for key, value in extra.items():
                body.setdefault(key, value)
        if self.flavor.body_model:
            body["model"] = endpoint.model
        else:
            body.pop("model", None)
        if request.stream:
            if self.flavor.send_stream_usage:
                options = dict(body.get("stream_options") or {})
                options["include_usage"] = True
                body["stream_options"] = options
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return body

    def chat_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        body = self.chat_body(request, endpoint)
        return UpstreamRequest(
            "POST",
            self._url(endpoint, self.flavor.chat_path),
            self._headers(endpoint),
            _json_encoder.encode(body),
            stream=request.stream,
        )

    def embeddings_request(self, request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
        if self.flavor.embeddings_path is None:
            from alfred.providers.base import not_supported

            raise not_supported(self.kind, "embeddings")
        body: dict[str, Any] = msgspec.to_builtins(request)
        extra = body.pop("extra", None)
        if extra:
            for key, value in extra.items():
                body.setdefault(key, value)
        if self.flavor.body_model:
            body["model"] = endpoint.model
        else:
            body.pop("model", None)
        # Canonical vectors are floats; the API edge re-encodes base64 for clients that ask for it.
        body["encoding_format"] = "float"
        return UpstreamRequest(
            "POST",
            self._url(endpoint, self.flavor.embeddings_path),
            self._headers(endpoint),
            _json_encoder.encode(body),
        )

    # -- responses --------------------------------------------------------------------------
    def chat_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        try:
            response = _response_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise UpstreamError(f"{endpoint.provider}: malformed chat response ({exc})") from exc
        if not response.id:
            response.id = f"chatcmpl-{uuid.uuid4().hex}"
        if not response.model:
            response.model = endpoint.model
        for choice in response.choices:
            if choice.finish_reason is not None:
                choice.finish_reason = _finish_reason_aliases.get(choice.finish_reason, choice.finish_reason)
        return response

    def embeddings_response(self, body: bytes, endpoint: Endpoint) -> EmbeddingResponse:
        try:
            response = msgspec.json.decode(body, type=EmbeddingResponse)
        except msgspec.DecodeError as exc:
            raise UpstreamError(f"{endpoint.provider}: malformed embeddings response ({exc})") from exc
        if not response.model:
            response.model = endpoint.model
        return response

    def chat_stream(self, endpoint: Endpoint) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(endpoint)

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> AlfredError:
        return upstream_error(
            status,
            openai_error_message(body),
            provider=self.kind,
            retry_after=headers.get("retry-after"),
        )


def openai_error_message(body: bytes) -> str:
    """The message of an OpenAI-shaped error body; other shapes are returned as short text."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:500].decode("utf-8", errors="replace").strip()
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(data.get("message"), str):
            return str(data["message"])
        if isinstance(data.get("detail"), str):
            return str(data["detail"])
    return body[:500].decode("utf-8", errors="replace").strip()


class OpenAIStreamDecoder:
    """Decodes an OpenAI-format SSE stream, normalising the quirks of its many speakers."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._sse = SSEParser()
        self._id = ""
        self._model = ""
        self._created = 0
        self._tool_ids: set[tuple[int, int]] = set()
        self.finished = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._decode(self._sse.feed(data))

    def close(self) -> list[ChatChunk]:
        return self._decode(self._sse.flush())

    def _decode(self, events: list[Any]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        for event in events:
            data = event.data
            if not data:
                continue
            if data.strip() == "[DONE]":
                self.finished = True
                continue
            try:
                raw = _chunk_decoder.decode(data)
            except msgspec.DecodeError as exc:
                raise UpstreamError(f"{self._endpoint.provider}: malformed stream event") from exc
            if event.event == "error" or ("error" in raw and "choices" not in raw):
                error = raw.get("error", raw)
                message = error.get("message", "stream error") if isinstance(error, dict) else str(error)
                raise UpstreamError(f"{self._endpoint.provider}: {message}", retryable=False)
            chunk = self._chunk(raw)
            if chunk is not None:
                out.append(chunk)
        return out

    def _chunk(self, raw: dict[str, Any]) -> ChatChunk | None:
        # Azure's first frame has empty id/model/created: never take identity from it.
        if raw.get("id") and not self._id:
            self._id = str(raw["id"])
        if raw.get("model") and not self._model:
            self._model = str(raw["model"])
        if raw.get("created") and not self._created:
            self._created = int(raw["created"])
        choices = raw.get("choices") or []
        usage_raw = raw.get("usage")
        if usage_raw is None:
            x_groq = raw.get("x_groq")
            if isinstance(x_groq, dict):
                usage_raw = x_groq.get("usage")
        if not choices and not usage_raw:
            return None  # content-filter preambles and keep-alives carry nothing for the client
        for choice in choices:
            choice.pop("content_filter_results", None)
            if choice.get("finish_reason") is not None:
                fr = choice["finish_reason"]
                choice["finish_reason"] = _finish_reason_aliases.get(fr, fr)
            delta = choice.get("delta") or {}
            choice["delta"] = delta
            for call in delta.get("tool_calls") or []:
                key = (int(choice.get("index", 0)), int(call.get("index", 0)))
                if key in self._tool_ids:
                    # Mistral sends "id":"null" on later fragments, TGI repeats "0": an id is set once.
                    call.pop("id", None)
                    call.pop("type", None)
                elif call.get("id"):
                    self._tool_ids.add(key)
        usage = None
        if isinstance(usage_raw, dict):
            usage = msgspec.convert(
                {
                    k: usage_raw[k]
                    for k in ("prompt_tokens", "completion_tokens", "total_tokens")
                    if k in usage_raw
                },
                Usage,
            )
        try:
            chunk = msgspec.convert(
                {
                    "id": self._id or "",
                    "model": self._model or self._endpoint.model,
                    "created": self._created or now_s(),
                    "choices": choices,
                },
                ChatChunk,
            )
        except msgspec.ValidationError as exc:
            raise UpstreamError(f"{self._endpoint.provider}: malformed stream chunk ({exc})") from exc
        if usage is not None:
            chunk.usage = usage
        return chunk
