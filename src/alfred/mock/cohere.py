"""Mock of Cohere's v2 API: ``POST /v2/chat`` (JSON and SSE) and ``POST /v2/embed``.

Speaks the real formats (cohere-ai/cohere-python v2 types) with their quirks: text as typed content
parts, the pre-tool ``tool_plan``, upper-case finish reasons, usage with ``billed_units`` lower than
``tokens`` (the prompt template is not billed), typed stream events ending in ``message-end`` and a
trailing ``data: [DONE]``, and ``{"id", "message"}`` error bodies.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import struct
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from alfred.mock.intake import intake, retry_headers
from alfred.mock.replies import (
    MockReply,
    MockTool,
    MockTurn,
    count_tokens,
    embedding_for,
    hash_text,
    reply_for,
)
from alfred.mock.state import MockState
from alfred.mock.streaming import paced_stream

_FINISH = {"stop": "COMPLETE", "length": "MAX_TOKENS", "tool_calls": "TOOL_CALL"}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"id": f"{hash_text(message):08x}-mock", "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif part.get("type") == "document":  # tool results may come as documents
                data = (part.get("document") or {}).get("data")
                texts.append(data if isinstance(data, str) else json.dumps(data))
        return "".join(texts)
    return ""


def turn_from_cohere(body: dict[str, Any]) -> MockTurn:
    messages = []
    for message in body.get("messages") or []:
        text = _text_of(message.get("content"))
        if message.get("role") == "assistant" and not text:
            text = str(message.get("tool_plan") or "")
        messages.append((str(message.get("role", "user")), text))
    tools = [
        MockTool(t["function"]["name"], t["function"].get("parameters") or {})
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    fmt = body.get("response_format") or {}
    choice = body.get("tool_choice")
    json_mode = fmt.get("type") == "json_object"
    return MockTurn(
        provider="cohere",
        model=str(body.get("model")),
        messages=messages,
        tools=tools,
        tool_choice={"REQUIRED": "required", "NONE": "none"}.get(choice) if isinstance(choice, str) else None,
        max_tokens=body.get("max_tokens"),
        json_schema=fmt.get("json_schema") if json_mode else None,
        json_mode=json_mode,
        stop=list(body.get("stop_sequences") or []),
    )


def _finish(turn: MockTurn, reply: MockReply) -> str:
    # The shared replies cut at a stop sequence silently; Cohere says that it did.
    if (
        reply.finish_reason == "stop"
        and turn.stop
        and reply_for(dataclasses.replace(turn, stop=[])).text != reply.text
    ):
        return "STOP_SEQUENCE"
    return _FINISH[reply.finish_reason]


def _usage(turn: MockTurn, reply: MockReply) -> dict[str, Any]:
    billed_input = sum(count_tokens(text) for role, text in turn.messages if role == "user")
    return {
        "billed_units": {"input_tokens": billed_input, "output_tokens": reply.completion_tokens},
        "tokens": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens},
    }


def _tool_plan(reply: MockReply) -> str:
    return f"I will use {reply.tool_calls[0].name} to answer this."


def _response_id(turn: MockTurn, reply: MockReply) -> str:
    h = hash_text(reply.text + turn.model + "".join(text for _, text in turn.messages))
    return f"{h:08x}-c0e0-4d1e-9a7e-{h % 10**12:012d}"


def chat_body(turn: MockTurn, reply: MockReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    if reply.tool_calls:
        message["tool_plan"] = _tool_plan(reply)
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json()}}
            for c in reply.tool_calls
        ]
    else:
        message["content"] = [{"type": "text", "text": reply.text}]
    return {
        "id": _response_id(turn, reply),
        "message": message,
        "finish_reason": _finish(turn, reply),
        "usage": _usage(turn, reply),
    }


def stream_frames(turn: MockTurn, reply: MockReply) -> Iterator[bytes]:
    def frame(payload: dict[str, Any]) -> bytes:
        data = json.dumps(payload, separators=(",", ":"))
        return f"event: {payload['type']}\ndata: {data}\n\n".encode()

    yield frame(
        {
            "id": _response_id(turn, reply),
            "type": "message-start",
            "delta": {
                "message": {
                    "role": "assistant",
                    "content": [],
                    "tool_plan": "",
                    "tool_calls": [],
                    "citations": [],
                }
            },
        }
    )
    if reply.tool_calls:
        plan = _tool_plan(reply).split(" ")
        for n, word in enumerate(plan):
            piece = word if n == len(plan) - 1 else word + " "
            yield frame({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}})
        for index, call in enumerate(reply.tool_calls):
            yield frame(
                {
                    "type": "tool-call-start",
                    "index": index,
                    "delta": {
                        "message": {
                            "tool_calls": {
                                "id": call.id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": ""},
                            }
                        }
                    },
                }
            )
            args = call.arguments_json()
            for start in range(0, len(args), 8):
                yield frame(
                    {
                        "type": "tool-call-delta",
                        "index": index,
                        "delta": {
                            "message": {"tool_calls": {"function": {"arguments": args[start : start + 8]}}}
                        },
                    }
                )
            yield frame({"type": "tool-call-end", "index": index})
    else:
        yield frame(
            {
                "type": "content-start",
                "index": 0,
                "delta": {"message": {"content": {"type": "text", "text": ""}}},
            }
        )
        for word in reply.words():
            yield frame(
                {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": word}}}}
            )
        yield frame({"type": "content-end", "index": 0})
    yield frame(
        {
            "type": "message-end",
            "delta": {"finish_reason": _finish(turn, reply), "usage": _usage(turn, reply)},
        }
    )
    yield b"data: [DONE]\n\n"


def _authorized(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _embed_body(body: dict[str, Any]) -> dict[str, Any] | str:
    """The /v2/embed answer, or why the request is invalid (as Cohere words it)."""
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return "invalid request: texts must be a non-empty list of strings"
    if not body.get("input_type"):
        return "invalid request: input_type is required for embed models v3 and higher"
    types = body.get("embedding_types") or ["float"]
    if not set(types) <= {"float", "base64"}:
        return f"invalid request: the mock serves embedding_types float and base64, not {types}"
    dims = int(body.get("output_dimension") or 16)
    vectors = [embedding_for(text, dims) for text in texts]
    embeddings: dict[str, Any] = {}
    if "float" in types:
        embeddings["float"] = vectors
    if "base64" in types:
        embeddings["base64"] = [base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() for v in vectors]
    tokens = sum(max(count_tokens(text), 1) for text in texts)
    return {
        "id": f"{hash_text(''.join(texts)):08x}-e3b0-4c44-98fc-1c149afbf4c8",
        "texts": texts,
        "embeddings": embeddings,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
        "response_type": "embeddings_by_type",
    }


def routes(state: MockState) -> list[BaseRoute]:
    async def chat(request: Request) -> Response:
        body, decision = await intake(state, request)
        if not _authorized(request):
            return error_response(401, "invalid api token")
        if decision.status:
            return error_response(
                decision.status, f"mock fault: HTTP {decision.status}", retry_headers(decision)
            )
        if not isinstance(body, dict) or not body.get("model"):
            return error_response(400, "invalid request: model must be specified")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return error_response(400, "invalid request: messages cannot be empty")
        turn = turn_from_cohere(body)
        reply = reply_for(turn)
        if body.get("stream"):
            return paced_stream(state, stream_frames(turn, reply), decision)
        return JSONResponse(chat_body(turn, reply))

    async def embed(request: Request) -> Response:
        body, decision = await intake(state, request)
        if not _authorized(request):
            return error_response(401, "invalid api token")
        if decision.status:
            return error_response(
                decision.status, f"mock fault: HTTP {decision.status}", retry_headers(decision)
            )
        result = (
            _embed_body(body) if isinstance(body, dict) else "invalid request: body must be a JSON object"
        )
        if isinstance(result, str):
            return error_response(400, result)
        return JSONResponse(result)

    return [
        Route("/v2/chat", chat, methods=["POST"]),
        Route("/v2/embed", embed, methods=["POST"]),
    ]
