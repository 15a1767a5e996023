"""Wire → canonical for OpenAI-format requests, with errors that name the offending field."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from alfred.config import ServerSettings
from alfred.errors import InvalidRequestError
from alfred.schema import ChatRequest, EmbeddingRequest

T = TypeVar("T", ChatRequest, EmbeddingRequest)

_decoder = msgspec.json.Decoder()
_PATH = re.compile(r"at `\$((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)`")
_CHAT_FIELDS = frozenset(f for f in ChatRequest.__struct_fields__ if f != "extra")
_EMBEDDING_FIELDS = frozenset(f for f in EmbeddingRequest.__struct_fields__ if f != "extra")
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def decode_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    if not body:
        raise InvalidRequestError("the request body is empty; send a JSON object")
    try:
        data = _decoder.decode(body)
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"the request body is not valid UTF-8 (byte {exc.start})") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"could not parse the JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    return data


def convert(data: dict[str, Any], cls: type[T], known: frozenset[str]) -> T:
    extra = {key: data.pop(key) for key in [k for k in data if k not in known]}
    try:
        request = msgspec.convert(data, cls)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH.search(message)
        param = match.group(1).lstrip(".") if match else None
        raise InvalidRequestError(f"invalid request: {message}", param=param or None) from None
    request.extra = extra
    return request


def parse_chat_request(body: bytes, limits: ServerSettings) -> ChatRequest:
    request = convert(decode_json_object(body), ChatRequest, _CHAT_FIELDS)
    check_chat_request(request, limits)
    return request


def check_chat_request(request: ChatRequest, limits: ServerSettings) -> None:
    """Checks beyond types: the ones a provider would otherwise reject after we paid for the trip."""
    if not request.model:
        raise InvalidRequestError("'model' must be a non-empty string", param="model")
    if not request.messages:
        raise InvalidRequestError("'messages' must contain at least one message", param="messages")
    if len(request.messages) > limits.max_messages:
        raise InvalidRequestError(
            f"too many messages ({len(request.messages)}); the limit is {limits.max_messages}",
            param="messages",
        )
    for index, message in enumerate(request.messages):
        if message.role not in _ROLES:
            raise InvalidRequestError(
                f"messages[{index}].role must be one of {', '.join(sorted(_ROLES))}; got {message.role!r}",
                param=f"messages[{index}].role",
            )
        if message.role == "tool" and not message.tool_call_id:
            raise InvalidRequestError(
                f"messages[{index}] has role 'tool' but no 'tool_call_id'",
                param=f"messages[{index}].tool_call_id",
            )
    if request.n is not None and not 1 <= request.n <= limits.max_n:
        raise InvalidRequestError(f"'n' must be between 1 and {limits.max_n}", param="n")
    if request.temperature is not None and not 0 <= request.temperature <= 2:
        raise InvalidRequestError("'temperature' must be between 0 and 2", param="temperature")
    if request.top_p is not None and not 0 <= request.top_p <= 1:
        raise InvalidRequestError("'top_p' must be between 0 and 1", param="top_p")
    limit = request.output_limit()
    if limit is not None and limit < 1:
        raise InvalidRequestError("'max_tokens' must be at least 1", param="max_tokens")
    if isinstance(request.stop, list) and len(request.stop) > 4:
        raise InvalidRequestError("'stop' may hold at most 4 sequences", param="stop")
    if request.stream_options is not None and not request.stream:
        raise InvalidRequestError(
            "'stream_options' is only allowed when 'stream' is true", param="stream_options"
        )


def parse_embedding_request(body: bytes) -> EmbeddingRequest:
    request = convert(decode_json_object(body), EmbeddingRequest, _EMBEDDING_FIELDS)
    if not request.model:
        raise InvalidRequestError("'model' must be a non-empty string", param="model")
    problem = request.input_error()
    if problem:
        raise InvalidRequestError(problem, param="input")
    if request.encoding_format not in (None, "float", "base64"):
        raise InvalidRequestError("'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    return request
