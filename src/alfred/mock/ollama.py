"""Mock of Ollama's native API: ``POST /api/chat`` (JSON or NDJSON stream) and ``POST /api/embed``.

Follows ollama/ollama docs/api.md with its quirks: the chat endpoint streams NDJSON when ``stream``
is absent or true; tool calls arrive whole in one line, with object arguments and no id (as the
documented examples show); ``done_reason`` is ``stop`` even after tool calls; the final line carries
``prompt_eval_count`` / ``eval_count`` and durations; an empty ``messages`` list just loads the model;
errors are ``{"error": "..."}``. No auth, as a local server; a malformed Authorization header gets 401.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from alfred.mock.intake import intake, retry_headers
from alfred.mock.replies import MockReply, MockTool, MockTurn, count_tokens, embedding_for, reply_for
from alfred.mock.state import MockState
from alfred.mock.streaming import paced_stream

NDJSON = "application/x-ndjson"


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def created_at() -> str:
    """Go's RFC 3339 with nanoseconds, as Ollama writes ``created_at``."""
    now = time.time_ns()
    stamp = datetime.fromtimestamp(now // 1_000_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{now % 1_000_000_000:09d}Z"


def turn_from_ollama(body: dict[str, Any]) -> MockTurn:
    messages = [(str(m.get("role", "user")), str(m.get("content") or "")) for m in body.get("messages") or []]
    tools = [
        MockTool(t["function"]["name"], t["function"].get("parameters") or {})
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    options = body.get("options") or {}
    fmt = body.get("format")
    stop = options.get("stop") or []
    return MockTurn(
        provider="ollama",
        model=str(body.get("model")),
        messages=messages,
        tools=tools,
        max_tokens=options.get("num_predict"),
        json_schema=fmt if isinstance(fmt, dict) else None,
        json_mode=fmt == "json",
        stop=[stop] if isinstance(stop, str) else list(stop),
    )


def _metrics(reply: MockReply) -> dict[str, int]:
    return {
        "total_duration": 4_883_583_458,
        "load_duration": 1_334_875,
        "prompt_eval_count": reply.prompt_tokens,
        "prompt_eval_duration": 342_546_000,
        "eval_count": reply.completion_tokens,
        "eval_duration": 4_535_599_000,
    }


def _tool_calls(reply: MockReply) -> list[dict[str, Any]]:
    return [
        {"function": {"index": index, "name": call.name, "arguments": call.arguments}}
        for index, call in enumerate(reply.tool_calls)
    ]


def chat_body(model: str, reply: MockReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
    return {
        "model": model,
        "created_at": created_at(),
        "message": message,
        "done_reason": "length" if reply.finish_reason == "length" else "stop",
        "done": True,
        **_metrics(reply),
    }


def stream_lines(model: str, reply: MockReply) -> Iterator[bytes]:
    def line(message: dict[str, Any], **extra: Any) -> bytes:
        payload = {"model": model, "created_at": created_at(), "message": message, **extra}
        return json.dumps(payload, separators=(",", ":")).encode() + b"\n"

    if reply.tool_calls:
        yield line({"role": "assistant", "content": "", "tool_calls": _tool_calls(reply)}, done=False)
    for word in reply.words():
        yield line({"role": "assistant", "content": word}, done=False)
    done_reason = "length" if reply.finish_reason == "length" else "stop"
    yield line({"role": "assistant", "content": ""}, done_reason=done_reason, done=True, **_metrics(reply))


def _authorized(request: Request) -> bool:
    header = request.headers.get("authorization")
    if header is None:
        return True  # a local Ollama asks for no key
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def routes(state: MockState) -> list[BaseRoute]:
    async def chat(request: Request) -> Response:
        body, decision = await intake(state, request)
        if not _authorized(request):
            return error_response(401, "unauthorized")
        if decision.status:
            return error_response(
                decision.status, f"mock fault: HTTP {decision.status}", retry_headers(decision)
            )
        if not isinstance(body, dict) or not body.get("model"):
            return error_response(400, "model is required")
        model = str(body["model"])
        if not body.get("messages"):
            load = {"role": "assistant", "content": ""}
            return JSONResponse(
                {
                    "model": model,
                    "created_at": created_at(),
                    "message": load,
                    "done_reason": "load",
                    "done": True,
                }
            )
        reply = reply_for(turn_from_ollama(body))
        if body.get("stream", True):  # the native API streams unless told not to
            return paced_stream(state, stream_lines(model, reply), decision, media_type=NDJSON)
        return JSONResponse(chat_body(model, reply))

    async def embed(request: Request) -> Response:
        body, decision = await intake(state, request)
        if not _authorized(request):
            return error_response(401, "unauthorized")
        if decision.status:
            return error_response(
                decision.status, f"mock fault: HTTP {decision.status}", retry_headers(decision)
            )
        if not isinstance(body, dict) or not body.get("model"):
            return error_response(400, "model is required")
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            return error_response(400, "invalid input type")
        dims = int(body.get("dimensions") or 16)
        return JSONResponse(
            {
                "model": body["model"],
                "embeddings": [embedding_for(text, dims) for text in inputs],
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": sum(max(count_tokens(text), 1) for text in inputs),
            }
        )

    return [
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/embed", embed, methods=["POST"]),
    ]
