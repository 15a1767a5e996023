"""Mock of Anthropic's Messages API (``POST /v1/messages``), whole responses and SSE streams.

It checks what the real API checks and adapters get wrong: the ``x-api-key`` and
``anthropic-version`` headers, a required ``max_tokens``, roles limited to user/assistant, and
every ``tool_use`` answered by a ``tool_result`` in the next user turn. Streams carry the real
event sequence with a ``ping`` and space-padded JSON on some events. A user message containing
``mock:stream_error`` (or ``mock:stream_error=<error type>``) gets an ``event: error`` mid-stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from alfred.mock.intake import intake, retry_headers
from alfred.mock.replies import MockReply, MockTool, MockTurn, hash_text, reply_for
from alfred.mock.state import MockState
from alfred.mock.streaming import paced_stream

_STREAM_ERROR = re.compile(r"mock:stream_error(?:=(\w+))?")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_BLOCK_TYPES = {"text", "image", "tool_use", "tool_result", "document", "thinking", "redacted_thinking"}
_MEDIA_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error in Anthropic's shape: ``{"type":"error","error":{"type":…,"message":…}}``."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    request_id = f"req_mock{hash_text(message + str(status)):010d}"
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers={"request-id": request_id, **(headers or {})})


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def validation_error(body: Any) -> str | None:
    """What the real API would reject in this request body, in its words; None when it is valid."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return "max_tokens: Field required"
    if max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return (
            "messages: Field required" if messages is None else "messages: at least one message is required"
        )
    for i, message in enumerate(messages):
        problem = _message_error(messages, i, message)
        if problem:
            return problem
    stops = body.get("stop_sequences") or []
    if not isinstance(stops, list) or any(not isinstance(x, str) or not x.strip() for x in stops):
        return "stop_sequences: each stop sequence must contain non-whitespace"
    fmt = (body.get("output_config") or {}).get("format")
    if fmt is not None and (fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict)):
        return "output_config.format: expected {'type': 'json_schema', 'schema': {...}}"
    return None


def _message_error(messages: list[Any], i: int, message: Any) -> str | None:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        return f"messages.{i}.role: Input should be 'user' or 'assistant'"
    content = message.get("content")
    if not isinstance(content, str | list) or not content:
        return f"messages.{i}: all messages must have non-empty content"
    blocks = _blocks(content)
    for n, block in enumerate(blocks):
        problem = _block_error(block)
        if problem:
            return f"messages.{i}.content.{n}.{problem}"
    return _tool_pairing_error(messages, i, message["role"], blocks)


def _block_error(block: dict[str, Any]) -> str | None:
    kind = block.get("type")
    if kind not in _BLOCK_TYPES:
        return f"type: unknown content block type {kind!r}"
    if kind == "text" and not block.get("text"):
        return "text: text content blocks must be non-empty"
    if kind == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            if source.get("media_type") not in _MEDIA_TYPES or not source.get("data"):
                return "source: invalid base64 image source"
        elif source.get("type") != "url" or not str(source.get("url", "")).startswith("http"):
            return "source: invalid image source"
    if kind == "tool_use" and not isinstance(block.get("input"), dict):
        return "tool_use.input: Input should be a valid dictionary"
    return None


def _tool_pairing_error(messages: list[Any], i: int, role: str, blocks: list[dict[str, Any]]) -> str | None:
    """Every ``tool_use`` needs its ``tool_result`` first thing in the next user turn, and vice versa."""
    uses = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
    nxt = messages[i + 1] if i + 1 < len(messages) else None
    if uses and role == "assistant" and isinstance(nxt, dict):
        answered = {
            b.get("tool_use_id") for b in _blocks(nxt.get("content")) if b.get("type") == "tool_result"
        }
        missing = [str(u) for u in uses if u not in answered or nxt.get("role") != "user"]
        if missing:
            return (
                f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                "`tool_result` block in the next message."
            )
    results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
    if not results:
        return None
    prev = messages[i - 1] if i > 0 else None
    used = {b.get("id") for b in _blocks(prev.get("content"))} if isinstance(prev, dict) else set()
    unknown = [r for r in results if r not in used or role != "user"]
    if unknown:
        return (
            f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: {unknown[0]}. "
            "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
        )
    first_other = next((n for n, b in enumerate(blocks) if b.get("type") != "tool_result"), len(blocks))
    if any(b.get("type") == "tool_result" for b in blocks[first_other:]):
        return f"messages.{i}.content: `tool_result` blocks must come before any other content"
    return None


def turn_from_anthropic(body: dict[str, Any]) -> MockTurn:
    messages: list[tuple[str, str]] = []
    system = _text(body.get("system"))
    if system:
        messages.append(("system", system))
    for message in body["messages"]:
        blocks = _blocks(message.get("content"))
        for block in blocks:
            if block.get("type") == "tool_result":
                messages.append(("tool", _text(block.get("content"))))
        text = _text(blocks)
        if text or not any(b.get("type") == "tool_result" for b in blocks):
            messages.append((message["role"], text))
    tools = [
        MockTool(t["name"], t.get("input_schema") or {})
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("name")
    ]
    wire_choice = body.get("tool_choice") or {}
    choice = {"auto": "auto", "any": "required", "none": "none"}.get(str(wire_choice.get("type")))
    if wire_choice.get("type") == "tool":
        choice = wire_choice.get("name")
    fmt = (body.get("output_config") or {}).get("format") or {}
    return MockTurn(
        provider="anthropic",
        model=body["model"],
        messages=messages,
        tools=tools,
        tool_choice=choice,
        max_tokens=body["max_tokens"],
        json_schema=fmt.get("schema") if fmt.get("type") == "json_schema" else None,
        stop=[s for s in body.get("stop_sequences") or [] if isinstance(s, str)],
    )


def _matched_stop(turn: MockTurn) -> str | None:
    """The stop sequence that cut the reply, if one did (Anthropic names it in ``stop_sequence``)."""
    if not turn.stop:
        return None
    uncut = reply_for(replace(turn, stop=[]))
    hits = [(uncut.text.index(s), s) for s in turn.stop if s and s in uncut.text]
    return min(hits)[1] if hits else None


def _usage(reply: MockReply, output_tokens: int | None = None) -> dict[str, int]:
    return {
        "input_tokens": reply.prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": reply.completion_tokens if output_tokens is None else output_tokens,
    }


def _tool_id(call_id: str) -> str:
    return "toolu_" + call_id.removeprefix("call_")


def message_body(reply: MockReply, model: str, stop: str | None) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for call in reply.tool_calls:
        content.append(
            {"type": "tool_use", "id": _tool_id(call.id), "name": call.name, "input": call.arguments}
        )
    return {
        "id": f"msg_mock{hash_text(reply.text + model):010d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "stop_sequence" if stop else _STOP_REASONS[reply.finish_reason],
        "stop_sequence": stop,
        "usage": _usage(reply),
    }


def _frame(event: str, payload: dict[str, Any], padded: bool = False) -> bytes:
    data = json.dumps(payload) if padded else json.dumps(payload, separators=(",", ":"))
    return f"event: {event}\ndata: {data}\n\n".encode()


def stream_events(reply: MockReply, model: str, stop: str | None, error_type: str | None) -> Iterator[bytes]:
    """The reply as Messages API SSE events, in the real order, with a ping after the first block opens."""
    start = message_body(reply, model, stop)
    stop_reason = start["stop_reason"]
    start.update(content=[], stop_reason=None, stop_sequence=None, usage=_usage(reply, output_tokens=1))
    yield _frame("message_start", {"type": "message_start", "message": start})
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if reply.text:
        deltas = [{"type": "text_delta", "text": word} for word in reply.words()]
        blocks.append(({"type": "text", "text": ""}, deltas))
    for call in reply.tool_calls:
        args = call.arguments_json()
        pieces = [""] + [args[i : i + 8] for i in range(0, len(args), 8)]
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        blocks.append(({"type": "tool_use", "id": _tool_id(call.id), "name": call.name, "input": {}}, deltas))
    for index, (block, deltas) in enumerate(blocks):
        yield _frame(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )
        if index == 0:
            yield _frame("ping", {"type": "ping"}, padded=True)
            if error_type:
                message = (
                    "Overloaded" if error_type == "overloaded_error" else f"mock stream error: {error_type}"
                )
                yield _frame(
                    "error", {"type": "error", "error": {"type": error_type, "message": message}}, True
                )
                return
        for delta in deltas:
            yield _frame(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
            )
        yield _frame("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _frame(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop},
            "usage": {"output_tokens": reply.completion_tokens},
        },
    )
    yield _frame("message_stop", {"type": "message_stop"}, padded=True)


def routes(state: MockState) -> list[BaseRoute]:
    async def messages(request: Request) -> Response:
        body, decision = await intake(state, request)
        if not request.headers.get("x-api-key"):
            return error_response(401, "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return error_response(400, "anthropic-version: header is required")
        if decision.status:
            return error_response(
                decision.status, f"mock fault: HTTP {decision.status}", retry_headers(decision)
            )
        problem = validation_error(body)
        if problem:
            return error_response(400, problem)
        turn = turn_from_anthropic(body)
        reply = reply_for(turn)
        stop = _matched_stop(turn) if reply.finish_reason == "stop" else None
        request_id = f"req_mock{hash_text(json.dumps(body, sort_keys=True)):010d}"
        if body.get("stream"):
            last_user = next((text for role, text in reversed(turn.messages) if role == "user"), "")
            match = _STREAM_ERROR.search(last_user)
            error_type = (match.group(1) or "overloaded_error") if match else None
            events = stream_events(reply, turn.model, stop, error_type)
            return paced_stream(state, events, decision, headers={"request-id": request_id})
        return JSONResponse(message_body(reply, turn.model, stop), headers={"request-id": request_id})

    return [Route("/v1/messages", messages, methods=["POST"])]
