"""Ollama's native wire types (only the fields we read; msgspec ignores the rest) and the mappings the
adapter and its stream decoder share: finish reasons, tool-call arguments, usage, timestamps, errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from msgspec import Struct

from alfred.errors import UpstreamError
from alfred.providers.base import Endpoint, now_s
from alfred.schema import Usage

encoder = msgspec.json.Encoder()


class WireFunction(Struct):
    name: str = ""
    arguments: dict[str, Any] | str | None = None


class WireToolCall(Struct):
    function: WireFunction
    id: str | None = None


class WireMessage(Struct):
    content: str = ""
    tool_calls: list[WireToolCall] | None = None


class WireChat(Struct):
    """One /api/chat response object: the whole answer, or one NDJSON line of a stream."""

    model: str = ""
    created_at: str | None = None
    message: WireMessage | None = None
    done: bool = False
    done_reason: str | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    error: str | None = None


class WireEmbed(Struct):
    embeddings: list[list[float]]
    prompt_eval_count: int | None = None


chat_decoder = msgspec.json.Decoder(WireChat)
embed_decoder = msgspec.json.Decoder(WireEmbed)


def finish_reason(raw: str | None, *, has_tool_calls: bool) -> str:
    """OpenAI's finish reason for Ollama's ``done_reason`` (which says ``stop`` after tool calls)."""
    if raw == "length":
        return "length"
    return "tool_calls" if has_tool_calls else "stop"


def arguments_text(call: WireToolCall) -> str:
    arguments = call.function.arguments
    if isinstance(arguments, str):  # some proxies in front of Ollama re-encode them
        return arguments or "{}"
    return encoder.encode(arguments or {}).decode()


def usage_of(data: WireChat) -> Usage | None:
    if data.prompt_eval_count is None and data.eval_count is None:
        return None
    prompt, completion = data.prompt_eval_count or 0, data.eval_count or 0
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def created_at_s(created_at: str | None) -> int:
    if created_at:
        try:
            return int(datetime.fromisoformat(created_at).timestamp())
        except ValueError:
            pass
    return now_s()


def decode_chat(body: bytes, endpoint: Endpoint) -> WireChat:
    try:
        return chat_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamError(f"{endpoint.provider}: malformed chat response ({exc})") from exc


def ollama_error_message(body: bytes) -> str:
    """The message of an Ollama error body (``{"error": "..."}``), or short text."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:500].decode("utf-8", errors="replace").strip()
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, str):
            return error
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return body[:500].decode("utf-8", errors="replace").strip()
