"""Amazon Bedrock's Converse and ConverseStream APIs ⇄ the canonical (OpenAI) schema.

Wire shapes follow botocore's ``data/bedrock-runtime/2023-09-30/service-2.json``. Requests are
SigV4-signed for service ``bedrock`` (``sigv4.py``), or carry a Bedrock API key as a bearer token.
ConverseStream answers in AWS event-stream binary frames (``eventstream.py``); usage arrives only in
the last ``metadata`` event, and every event may carry a ``"p"`` padding field, which is ignored.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, NoReturn
from urllib.parse import quote

import msgspec
import yarl
from msgspec import Struct

from alfred.errors import AlfredError, ContextLengthError, UpstreamError
from alfred.providers.base import Endpoint, UpstreamRequest, not_supported, now_s, upstream_error
from alfred.providers.bedrock_request import converse_body
from alfred.providers.eventstream import EventMessage, EventStreamDecoder, EventStreamError
from alfred.providers.sigv4 import SigV4Signer, StaticCredentials
from alfred.schema import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    EmbeddingRequest,
    EmbeddingResponse,
    FunctionCall,
    FunctionCallDelta,
    ResponseMessage,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from alfred.schema.chat import PromptTokensDetails

_encoder = msgspec.json.Encoder()
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


# -- wire types (only the fields read; unknown ones such as "p", metrics or trace are skipped) --
class _ToolUse(Struct):
    toolUseId: str
    name: str
    input: Any = None


class _Block(Struct):
    text: str | None = None
    toolUse: _ToolUse | None = None


class _Message(Struct):
    content: list[_Block] = []


class _Output(Struct):
    message: _Message | None = None


class _TokenUsage(Struct):
    inputTokens: int = 0
    outputTokens: int = 0
    cacheReadInputTokens: int | None = None
    cacheWriteInputTokens: int | None = None


class _ConverseResponse(Struct):
    output: _Output
    stopReason: str = "end_turn"
    usage: _TokenUsage | None = None


class _ToolUseStart(Struct):
    toolUseId: str
    name: str


class _Start(Struct):
    toolUse: _ToolUseStart | None = None


class _ToolUseDelta(Struct):
    input: str = ""


class _Delta(Struct):
    text: str | None = None
    toolUse: _ToolUseDelta | None = None


class _StreamEvent(Struct):
    """Any ConverseStream event's payload; which fields are set depends on ``:event-type``."""

    contentBlockIndex: int = 0
    start: _Start | None = None
    delta: _Delta | None = None
    stopReason: str | None = None
    usage: _TokenUsage | None = None
    message: str | None = None  # exception events
    originalMessage: str | None = None


_response_decoder = msgspec.json.Decoder(_ConverseResponse)
_event_decoder = msgspec.json.Decoder(_StreamEvent)


# -- Converse → canonical ------------------------------------------------------------------------
def finish_reason(stop_reason: str | None) -> str:
    return _FINISH.get(stop_reason or "end_turn", "stop")


def _usage(raw: _TokenUsage) -> Usage:
    # Bedrock counts cache reads and writes apart from inputTokens; OpenAI's prompt_tokens includes
    # them, with the cached share in prompt_tokens_details.
    prompt = raw.inputTokens + (raw.cacheReadInputTokens or 0) + (raw.cacheWriteInputTokens or 0)
    usage = Usage(prompt, raw.outputTokens, prompt + raw.outputTokens)
    if raw.cacheReadInputTokens:
        usage.prompt_tokens_details = PromptTokensDetails(cached_tokens=raw.cacheReadInputTokens)
    return usage


def _message(content: list[_Block]) -> ResponseMessage:
    text = "".join(block.text for block in content if block.text is not None)
    calls = [
        ToolCall(
            id=block.toolUse.toolUseId,
            function=FunctionCall(block.toolUse.name, _encoder.encode(block.toolUse.input or {}).decode()),
        )
        for block in content
        if block.toolUse is not None
    ]
    message = ResponseMessage(content=text or None)
    if calls:
        message.tool_calls = calls
    return message


class BedrockAdapter:
    """Canonical ⇄ Bedrock Converse / ConverseStream."""

    kind = "bedrock"

    def __init__(self) -> None:
        # One signer per region and credential set: it caches credentials resolved from the chain.
        self._signers: dict[tuple[str, StaticCredentials | None], SigV4Signer] = {}
        self._lock = threading.Lock()

    def chat_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        action = "converse-stream" if request.stream else "converse"
        model = quote(endpoint.model, safe="")
        # aiohttp re-quotes URLs through yarl (which turns %3A back into ':'); SigV4 must sign the
        # path exactly as it goes on the wire, so the URL is normalised the same way first.
        url = str(yarl.URL(f"{endpoint.base_url.rstrip('/')}/model/{model}/{action}"))
        body = _encoder.encode(converse_body(request))
        headers = {"content-type": "application/json", **endpoint.headers}
        if endpoint.api_key:
            headers["authorization"] = f"Bearer {endpoint.api_key}"
        else:
            headers = self._signer(endpoint).sign("POST", url, headers, body)
        return UpstreamRequest("POST", url, headers, body, stream=request.stream)

    def _signer(self, endpoint: Endpoint) -> SigV4Signer:
        options = endpoint.options
        region = options.get("region") or "us-east-1"
        static = None
        if options.get("access_key_id") and options.get("secret_access_key"):
            static = StaticCredentials(
                options["access_key_id"], options["secret_access_key"], options.get("session_token") or None
            )
        key = (region, static)
        with self._lock:
            signer = self._signers.get(key)
            if signer is None:
                signer = self._signers[key] = SigV4Signer("bedrock", region, static)
        return signer

    def chat_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        try:
            raw = _response_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"{endpoint.provider}: malformed Converse response ({exc})") from exc
        content = raw.output.message.content if raw.output.message else []
        response = ChatResponse(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            model=endpoint.model,
            created=now_s(),
            choices=[Choice(index=0, message=_message(content), finish_reason=finish_reason(raw.stopReason))],
        )
        if raw.usage is not None:
            response.usage = _usage(raw.usage)
        return response

    def chat_stream(self, endpoint: Endpoint) -> BedrockStreamDecoder:
        return BedrockStreamDecoder(endpoint)

    def embeddings_request(self, request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
        raise not_supported(self.kind, "embeddings")

    def embeddings_response(self, body: bytes, endpoint: Endpoint) -> EmbeddingResponse:
        raise not_supported(self.kind, "embeddings")

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> AlfredError:
        lowered = {k.lower(): v for k, v in headers.items()}
        error_type, message = bedrock_error(lowered.get("x-amzn-errortype"), body)
        text = f"{error_type}: {message}" if error_type and message else message or error_type
        if error_type == "ValidationException" and _is_context_overflow(message):
            return ContextLengthError(f"{self.kind}: {text}")
        if error_type == "ModelErrorException" or status == 424:
            return UpstreamError(f"{self.kind}: {text}")  # the model failed, not the caller's request
        return upstream_error(status, text, provider=self.kind, retry_after=lowered.get("retry-after"))


def bedrock_error(type_header: str | None, body: bytes) -> tuple[str, str]:
    """(error type, message) from AWS's ``x-amzn-ErrorType`` header and ``{"message": …}`` body."""
    error_type = (type_header or "").split(":", 1)[0]
    message = ""
    try:
        data = msgspec.json.decode(body) if body else {}
    except msgspec.DecodeError:
        data = body[:500].decode("utf-8", errors="replace").strip()
    if isinstance(data, dict):
        found = data.get("message", data.get("Message"))
        message = found if isinstance(found, str) else ""
        if not error_type and isinstance(data.get("__type"), str):
            error_type = data["__type"].rsplit("#", 1)[-1]
    elif isinstance(data, str):
        message = data
    return error_type, message


def _is_context_overflow(message: str) -> bool:
    lowered = message.lower()
    return "too long" in lowered or "context window" in lowered or "too many input tokens" in lowered


# -- ConverseStream → canonical chunks ------------------------------------------------------------
_STREAM_ERRORS: dict[str, tuple[str, bool]] = {  # exception type → (code, retryable)
    "throttlingException": ("upstream_rate_limited", True),
    "serviceUnavailableException": ("service_unavailable", True),
    "internalServerException": ("upstream_error", True),
    "modelStreamErrorException": ("upstream_model_error", False),
    "validationException": ("upstream_validation_error", False),
}


class BedrockStreamDecoder:
    """Decodes a ConverseStream event stream into OpenAI-shaped chunks."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._frames = EventStreamDecoder()
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._created = now_s()
        self._tools: dict[int, int] = {}  # contentBlockIndex → tool call index
        self._role_sent = False
        self._stopped = False
        self.finished = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        try:
            messages = self._frames.feed(data)
        except EventStreamError as exc:
            raise UpstreamError(f"{self._endpoint.provider}: corrupt event stream ({exc})") from exc
        out: list[ChatChunk] = []
        for message in messages:
            chunk = self._event(message)
            if chunk is not None:
                out.append(chunk)
        return out

    def close(self) -> list[ChatChunk]:
        # Usage comes last, in "metadata"; a stream that ends cleanly right after messageStop is
        # complete all the same (the caller counts tokens then).
        if self._stopped and not self._frames.pending:
            self.finished = True
        return []

    def _event(self, message: EventMessage) -> ChatChunk | None:
        kind = message.header(":message-type") or "event"
        if kind != "event":
            self._raise(message, kind)
        name = message.header(":event-type")
        try:
            event = _event_decoder.decode(message.payload) if message.payload else _StreamEvent()
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"{self._endpoint.provider}: malformed {name} event ({exc})") from exc
        if name == "messageStart":
            return self._chunk(Delta(content=""))
        if name == "contentBlockStart" and event.start is not None and event.start.toolUse is not None:
            index = self._tools.setdefault(event.contentBlockIndex, len(self._tools))
            start = event.start.toolUse
            call = ToolCallDelta(index, start.toolUseId, "function", FunctionCallDelta(start.name, ""))
            return self._chunk(Delta(tool_calls=[call]))
        if name == "contentBlockDelta" and event.delta is not None:
            if event.delta.text:
                return self._chunk(Delta(content=event.delta.text))
            if event.delta.toolUse is not None:
                if not event.delta.toolUse.input:
                    return None  # Claude opens each tool input with an empty fragment
                known = self._tools.get(event.contentBlockIndex)
                if known is None:
                    raise UpstreamError(
                        f"{self._endpoint.provider}: tool input for a block that never started"
                    )
                fragment = ToolCallDelta(
                    known, function=FunctionCallDelta(arguments=event.delta.toolUse.input)
                )
                return self._chunk(Delta(tool_calls=[fragment]))
            return None  # reasoning and citation deltas have no canonical form yet
        if name == "messageStop":
            self._stopped = True
            return self._chunk(Delta(), finish_reason(event.stopReason))
        if name == "metadata":
            self.finished = True
            if event.usage is None:
                return None
            chunk = ChatChunk(id=self._id, model=self._endpoint.model, created=self._created, choices=[])
            chunk.usage = _usage(event.usage)
            return chunk
        return None  # contentBlockStop, and events this adapter does not know

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatChunk:
        if not self._role_sent:
            delta.role = "assistant"
            self._role_sent = True
        return ChatChunk(
            id=self._id,
            model=self._endpoint.model,
            created=self._created,
            choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        )

    def _raise(self, message: EventMessage, kind: str) -> NoReturn:
        if kind == "exception":
            error_type = message.header(":exception-type") or "exception"
            try:
                event = _event_decoder.decode(message.payload)
                text = event.message or event.originalMessage or error_type
            except (msgspec.DecodeError, msgspec.ValidationError):
                text = message.payload[:300].decode("utf-8", errors="replace")
        else:  # ":message-type" error: the code and message travel in headers
            error_type = message.header(":error-code") or "error"
            text = message.header(":error-message") or error_type
        code, retryable = _STREAM_ERRORS.get(error_type, ("upstream_error", False))
        raise UpstreamError(
            f"{self._endpoint.provider}: {error_type}: {text}", code=code, retryable=retryable
        )
