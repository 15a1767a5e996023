"""Mock of OpenAI's chat and embeddings API and its dialects (Azure, Groq, Together, Mistral, HF TGI).

The dialect is chosen by path so one server can speak all of them with their real quirks:
``/v1/…`` OpenAI, ``/openai/deployments/{d}/…?api-version=`` Azure, ``/groq/openai/v1/…`` Groq,
``/together/v1/…`` Together, ``/mistral/v1/…`` Mistral, ``/hf/v1/…`` Hugging Face TGI,
``/ollama/v1/…`` Ollama's OpenAI-compatible endpoint.
"""

from __future__ import annotations

import base64
import json
import struct
import time
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


def dialect_for(path: str) -> str:
    if path.startswith("/openai/deployments/"):
        return "azure"
    for prefix in ("groq", "together", "mistral", "hf", "ollama"):
        if path.startswith(f"/{prefix}/"):
            return "huggingface" if prefix == "hf" else prefix
    return "openai"


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    kinds = {
        400: "invalid_request_error",
        401: "invalid_api_key",
        404: "not_found",
        429: "rate_limit_exceeded",
    }
    body = {
        "error": {
            "message": message,
            "type": "invalid_request_error" if status < 500 else "server_error",
            "param": None,
            "code": kinds.get(status, "server_error"),
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def turn_from_openai(body: dict[str, Any], dialect: str, model: str) -> MockTurn:
    messages = [(m.get("role", "user"), _text_of(m.get("content"))) for m in body.get("messages") or []]
    tools = [
        MockTool(t["function"]["name"], t["function"].get("parameters") or {})
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = (choice.get("function") or {}).get("name")
    fmt = body.get("response_format") or {}
    schema = None
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
    stop = body.get("stop") or []
    return MockTurn(
        provider=dialect,
        model=model,
        messages=messages,
        tools=tools,
        tool_choice=choice,
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        json_schema=schema,
        json_mode=fmt.get("type") == "json_object",
        stop=[stop] if isinstance(stop, str) else list(stop),
    )


def _usage(reply: MockReply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def completion_body(reply: MockReply, model: str, dialect: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json()}}
            for c in reply.tool_calls
        ]
    finish = "eos" if dialect == "together" and reply.finish_reason == "stop" else reply.finish_reason
    return {
        "id": "" if dialect == "huggingface" else f"chatcmpl-mock{hash_text(reply.text + model):010d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(reply),
        "system_fingerprint": "fp_mock",
    }


def stream_frames(reply: MockReply, model: str, dialect: str, include_usage: bool) -> Iterator[bytes]:
    """The reply as SSE frames, with each dialect's quirks."""
    created = int(time.time())
    chunk_id = "" if dialect == "huggingface" else f"chatcmpl-mock{hash_text(reply.text + model):010d}"
    data_prefix = b"data:" if dialect == "huggingface" else b"data: "

    def frame(payload: dict[str, Any]) -> bytes:
        return data_prefix + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if dialect == "openai":
            payload["system_fingerprint"] = "fp_mock"
            payload["obfuscation"] = "x" * (len(json.dumps(delta)) % 7)
            if include_usage:
                payload["usage"] = None
        if dialect == "azure":
            payload["choices"][0]["content_filter_results"] = {
                "hate": {"filtered": False, "severity": "safe"}
            }
        if dialect == "mistral":
            payload["p"] = "abcdefgh"[: len(delta.get("content") or "") % 8]
        return payload

    if dialect == "azure":
        yield frame(
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
            }
        )
    yield frame(chunk({"role": "assistant", "content": ""}))
    for call_index, call in enumerate(reply.tool_calls):
        first_id = "0" if dialect == "huggingface" else call.id
        yield frame(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": call_index,
                            "id": first_id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        args = call.arguments_json()
        pieces = [args[i : i + 8] for i in range(0, len(args), 8)]
        for n, piece in enumerate(pieces):
            fragment: dict[str, Any] = {"index": call_index, "function": {"arguments": piece}}
            if dialect == "huggingface":
                fragment["id"] = "0"
                fragment["type"] = "function"
            if dialect == "mistral" and n == len(pieces) - 1:
                fragment["id"] = "null"
            yield frame(chunk({"tool_calls": [fragment]}))
    for word in reply.words():
        yield frame(chunk({"content": word}))
    finish = reply.finish_reason
    if dialect == "together" and finish == "stop":
        finish = "eos"
    last = chunk({}, finish)
    if dialect == "together":
        last["usage"] = _usage(reply)
    if dialect == "groq":
        last["x_groq"] = {"id": "req_mock", "usage": _usage(reply)}
    if dialect == "huggingface" and reply.tool_calls:
        last["choices"][0]["finish_reason"] = "stop"  # TGI ends tool calls with "stop"
    yield frame(last)
    if include_usage and dialect != "together":
        tail: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": _usage(reply),
        }
        yield frame(tail)
    yield data_prefix + b"[DONE]\n\n"


def _authorized(request: Request, dialect: str) -> bool:
    if dialect == "azure":
        return bool(request.headers.get("api-key")) and "api-version" in request.query_params
    if dialect in ("ollama",):
        return True
    return request.headers.get("authorization", "").startswith("Bearer ")


def routes(state: MockState) -> list[BaseRoute]:
    async def chat(request: Request) -> Response:
        dialect = dialect_for(request.url.path)
        body, decision = await intake(state, request)
        if not _authorized(request, dialect):
            return error_response(401, "Incorrect API key provided (mock).")
        if decision.status:
            return error_response(
                decision.status, f"mock fault: HTTP {decision.status}", retry_headers(decision)
            )
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return error_response(400, "'messages' is required (mock)")
        model = request.path_params.get("deployment") or body.get("model")
        if not model:
            return error_response(400, "you must provide a model parameter")
        reply = reply_for(turn_from_openai(body, dialect, model))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return paced_stream(state, stream_frames(reply, model, dialect, include_usage), decision)
        return JSONResponse(completion_body(reply, model, dialect))

    async def embeddings(request: Request) -> Response:
        dialect = dialect_for(request.url.path)
        body, decision = await intake(state, request)
        if not _authorized(request, dialect):
            return error_response(401, "Incorrect API key provided (mock).")
        if decision.status:
            return error_response(
                decision.status, f"mock fault: HTTP {decision.status}", retry_headers(decision)
            )
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return error_response(400, "'input' is required (mock)")
        dims = body.get("dimensions") or 16
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            text = (
                item
                if isinstance(item, str)
                else " ".join(str(t) for t in item)
                if isinstance(item, list)
                else str(item)
            )
            tokens += max(count_tokens(text), 1)
            vector = embedding_for(text, int(dims))
            value: Any = vector
            if body.get("encoding_format") == "base64":
                value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": value})
        model = request.path_params.get("deployment") or body.get("model")
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def models(request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "mock"}],
            }
        )

    return [
        Route("/openai/deployments/{deployment}/chat/completions", chat, methods=["POST"]),
        Route("/openai/deployments/{deployment}/embeddings", embeddings, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/groq/openai/v1/chat/completions", chat, methods=["POST"]),
        Route("/groq/openai/v1/embeddings", embeddings, methods=["POST"]),
        Route("/{dialect:str}/v1/chat/completions", chat, methods=["POST"]),
        Route("/{dialect:str}/v1/embeddings", embeddings, methods=["POST"]),
    ]
