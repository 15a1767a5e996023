"""Mock of Google's Gemini Developer API: generateContent, streamGenerateContent, embeddings.

Serves ``/{v1beta|v1}/models/{model}:generateContent``, ``:streamGenerateContent`` (``alt=sse``
→ SSE events ended by ``\\r\\n\\r\\n`` and no ``[DONE]``; without it → one pretty-printed JSON
array), ``:embedContent`` and ``:batchEmbedContents``. The key goes in ``x-goog-api-key`` or
``?key=``; without one Gemini answers 403 ``PERMISSION_DENIED``. Errors use Google's body shape,
a 429 names its retry delay in ``RetryInfo`` (no ``retry-after`` header), ``usageMetadata`` rides
on every stream chunk, and "thinking" models (2.5 and later) report ``thoughtsTokenCount``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from alfred.mock.intake import intake
from alfred.mock.replies import (
    MockReply,
    MockTool,
    MockTurn,
    count_tokens,
    embedding_for,
    hash_text,
    reply_for,
)
from alfred.mock.state import Decision, MockState
from alfred.mock.streaming import paced_stream

VERSIONS = ("v1beta", "v1")
EMBEDDING_DIMENSIONS = 768  # text-embedding-004's size
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_MODES = {"AUTO": "auto", "NONE": "none", "ANY": "required", "VALIDATED": "auto"}


def error_body(status: int, message: str, retry_after: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if status == 429:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests"}
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after or 1}s"},
        ]
    return {"error": error}


def error_response(
    status: int, message: str, *, retry_after: int | None = None, array: bool = False
) -> Response:
    body: Any = error_body(status, message, retry_after)
    return JSONResponse([body] if array else body, status_code=status)


def _json_schema(schema: Any) -> Any:
    """Gemini's upper-case schema types back to JSON Schema's, for the shared reply builder."""
    if isinstance(schema, list):
        return [_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _json_schema(value) for key, value in schema.items()}
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {name: _json_schema(sub) for name, sub in schema["properties"].items()}
    return out


def _tool_result_text(response: Any) -> str:
    if isinstance(response, dict) and isinstance(response.get("output"), str) and len(response) == 1:
        return str(response["output"])
    return json.dumps(response, separators=(",", ":"))


def turn_from_gemini(body: dict[str, Any], model: str) -> MockTurn:
    messages: list[tuple[str, str]] = []
    system = body.get("systemInstruction") or body.get("system_instruction") or {}
    system_text = "".join(p.get("text", "") for p in system.get("parts") or [] if isinstance(p, dict))
    if system_text:
        messages.append(("system", system_text))
    for content in body.get("contents") or []:
        role = "assistant" if content.get("role") == "model" else "user"
        texts: list[str] = []
        for part in content.get("parts") or []:
            if "functionResponse" in part:
                messages.append(("tool", _tool_result_text(part["functionResponse"].get("response"))))
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
        if texts or not content.get("parts"):
            messages.append((role, "".join(texts)))
    tools = [
        MockTool(decl["name"], _json_schema(decl.get("parameters") or {}))
        for tool in body.get("tools") or []
        for decl in tool.get("functionDeclarations") or []
    ]
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    choice = _MODES.get(str(calling.get("mode", "AUTO")).upper())
    allowed = calling.get("allowedFunctionNames") or []
    if choice == "required" and len(allowed) == 1:
        choice = allowed[0]
    config = body.get("generationConfig") or {}
    schema = config.get("responseSchema") or config.get("responseJsonSchema")
    json_wanted = config.get("responseMimeType") == "application/json"
    return MockTurn(
        provider="gemini",
        model=model,
        messages=messages,
        tools=tools,
        tool_choice=choice,
        max_tokens=config.get("maxOutputTokens"),
        json_schema=_json_schema(schema) if json_wanted and schema else None,
        json_mode=json_wanted and not schema,
        stop=list(config.get("stopSequences") or []),
    )


def _thinks(model: str) -> bool:
    """Gemini 2.5 and later think before answering, and bill the thoughts as output."""
    return "thinking" in model or any(model.startswith(f"gemini-{v}") for v in ("2.5", "3"))


def _usage(reply: MockReply, model: str, final: bool = True) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": reply.prompt_tokens,
        "totalTokenCount": reply.prompt_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.prompt_tokens}],
    }
    if final:
        usage["candidatesTokenCount"] = reply.completion_tokens
        usage["totalTokenCount"] += reply.completion_tokens
        if _thinks(model):
            thoughts = 8 + reply.prompt_tokens % 13
            usage["thoughtsTokenCount"] = thoughts
            usage["totalTokenCount"] += thoughts
    return usage


def _call_parts(reply: MockReply, model: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for n, call in enumerate(reply.tool_calls):
        part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
        if _thinks(model) and n == 0:
            part["thoughtSignature"] = "CiQBcsjafE2mock" + f"{hash_text(call.name):08x}"
        parts.append(part)
    return parts


def _response(parts: list[dict[str, Any]], reply: MockReply, model: str, finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = _FINISH.get(reply.finish_reason, "STOP")
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(reply, model, final=finish),
        "modelVersion": model,
        "responseId": f"mock{hash_text(reply.text + model):08x}",
    }


def completion_body(reply: MockReply, model: str) -> dict[str, Any]:
    parts = _call_parts(reply, model)
    if reply.text or not parts:
        parts.insert(0, {"text": reply.text})
    return _response(parts, reply, model, finish=True)


def stream_bodies(reply: MockReply, model: str) -> Iterator[dict[str, Any]]:
    """One response per word; function calls arrive whole in the last one, as Gemini sends them."""
    words = reply.words()
    for word in words[:-1]:
        yield _response([{"text": word}], reply, model, finish=False)
    last = [{"text": words[-1]}] if words else []
    calls = _call_parts(reply, model)
    yield _response(last + calls if last or calls else [{"text": ""}], reply, model, finish=True)


def sse_frames(reply: MockReply, model: str) -> Iterator[bytes]:
    for body in stream_bodies(reply, model):
        yield b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\r\n\r\n"


def array_frames(reply: MockReply, model: str) -> Iterator[bytes]:
    for n, body in enumerate(stream_bodies(reply, model)):
        yield (b"[" if n == 0 else b"\n,\r\n") + json.dumps(body, indent=2).encode()
    yield b"\n]"


def _api_key(request: Request) -> str:
    return request.headers.get("x-goog-api-key") or request.query_params.get("key") or ""


def _refusal(request: Request, decision: Decision, *, array: bool = False) -> Response | None:
    """The auth failure or injected fault this request gets, if any, in Google's error shape."""
    if not _api_key(request):
        return error_response(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
            array=array,
        )
    if decision.status:
        return error_response(
            decision.status,
            f"mock fault: HTTP {decision.status}",
            retry_after=decision.retry_after,
            array=array,
        )
    return None


def routes(state: MockState) -> list[BaseRoute]:
    async def generate(request: Request) -> Response:
        streaming = request.url.path.endswith(":streamGenerateContent")
        sse = request.query_params.get("alt") == "sse"
        body, decision = await intake(state, request)
        refusal = _refusal(request, decision, array=streaming and not sse)
        if refusal is not None:
            return refusal
        if not isinstance(body, dict) or not body.get("contents"):
            return error_response(400, "* GenerateContentRequest.contents: contents is not specified\n")
        model = request.path_params["model"]
        reply = reply_for(turn_from_gemini(body, model))
        if not streaming:
            return JSONResponse(completion_body(reply, model))
        if sse:
            return paced_stream(state, sse_frames(reply, model), decision)
        return paced_stream(state, array_frames(reply, model), decision, media_type="application/json")

    async def embed(request: Request) -> Response:
        body, decision = await intake(state, request)
        refusal = _refusal(request, decision)
        if refusal is not None:
            return refusal
        model = request.path_params["model"]
        batch = request.url.path.endswith(":batchEmbedContents")
        items = (body.get("requests") if batch else [body]) if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return error_response(400, "* BatchEmbedContentsRequest.requests: requests is not specified\n")
        vectors = []
        for n, item in enumerate(items):
            if batch and item.get("model") != f"models/{model}":
                return error_response(
                    400,
                    f"* BatchEmbedContentsRequest.requests[{n}].model: model names should match the parent",
                )
            parts = (item.get("content") or {}).get("parts") or []
            text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
            if not count_tokens(text):
                return error_response(400, "* EmbedContentRequest.content: contents must not be empty\n")
            dims = int(item.get("outputDimensionality") or EMBEDDING_DIMENSIONS)
            vectors.append({"values": embedding_for(text, dims)})
        return JSONResponse({"embeddings": vectors} if batch else {"embedding": vectors[0]})

    found: list[BaseRoute] = []
    for version in VERSIONS:
        prefix = f"/{version}/models/{{model}}"
        found += [
            Route(f"{prefix}:generateContent", generate, methods=["POST"]),
            Route(f"{prefix}:streamGenerateContent", generate, methods=["POST"]),
            Route(f"{prefix}:embedContent", embed, methods=["POST"]),
            Route(f"{prefix}:batchEmbedContents", embed, methods=["POST"]),
        ]
    return found
