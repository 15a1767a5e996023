"""Mock of Amazon Bedrock's Converse and ConverseStream APIs, on their real paths.

``POST /model/{modelId}/converse`` answers JSON; ``/converse-stream`` answers real AWS event-stream
binary frames (valid CRCs, ``:event-type`` headers, ``"p"`` padding, no ``contentBlockStart`` for
text blocks, usage only in the closing ``metadata`` event). Requests must carry SigV4 authorization
(structure and scope checked, not the signature: the mock does not know the secret) or a Bedrock
API key as a bearer token. Errors use AWS's ``x-amzn-ErrorType`` header and ``{"message": …}`` body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from alfred.mock.intake import intake, retry_headers
from alfred.mock.replies import MockReply, MockTool, MockTurn, reply_for
from alfred.mock.state import MockState
from alfred.mock.streaming import paced_stream
from alfred.providers.eventstream import encode_message

_SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)"
    r"/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?Signature=[0-9a-f]{64}$"
)
_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")


def error_response(
    status: int, message: str, error_type: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    kind = error_type or _ERROR_TYPES.get(status, "InternalServerException")
    return JSONResponse(
        {"message": message},
        status_code=status,
        headers={
            "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": str(uuid.uuid4()),
            **(headers or {}),
        },
    )


def auth_problem(request: Request) -> str | None:
    """Why the request is not authorized as Bedrock would see it, or None when it is."""
    authorization = request.headers.get("authorization", "")
    if authorization.startswith("Bearer "):
        return None if authorization[7:].strip() else "Missing Authentication Token"
    match = _SIGV4.match(authorization)
    if match is None:
        return "Missing Authentication Token"
    amz_date = request.headers.get("x-amz-date", "")
    if not amz_date.startswith(match["date"]):
        return "Signature expired or x-amz-date missing: the credential scope's date must match x-amz-date"
    if match["service"] != "bedrock":
        return f"Credential should be scoped to correct service: 'bedrock', not {match['service']!r}"
    signed = match["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "SignedHeaders must include host and x-amz-date"
    return None


def validation_problem(body: Any) -> str | None:
    """Converse's own validation of the request shape, so adapter mistakes surface as they would."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
    uses_tools = False
    previous = None
    for i, message in enumerate(body["messages"]):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            return f"messages.{i}.role must be one of [user, assistant]"
        if role == previous:
            return "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
        previous = role
        content = message.get("content")
        if not isinstance(content, list) or not content:
            return f"messages.{i}.content must not be empty"
        for j, block in enumerate(content):
            if not isinstance(block, dict) or len(block) != 1:
                return f"messages.{i}.content.{j} must set exactly one member of the ContentBlock union"
            if "text" in block and not str(block["text"]).strip():
                return f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again."
            if "toolUse" in block or "toolResult" in block:
                uses_tools = True
            if "image" in block:
                image = block["image"]
                if image.get("format") not in _IMAGE_FORMATS:
                    return f"messages.{i}.content.{j}.image.format must be one of {list(_IMAGE_FORMATS)}"
                try:
                    base64.b64decode(image["source"]["bytes"], validate=True)
                except (KeyError, TypeError, binascii.Error):
                    return f"messages.{i}.content.{j}.image.source.bytes is not valid base64"
    if uses_tools and not (body.get("toolConfig") or {}).get("tools"):
        return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
    fmt = ((body.get("outputConfig") or {}).get("textFormat") or {}).get("structure") or {}
    if "jsonSchema" in fmt:
        try:
            json.loads(fmt["jsonSchema"]["schema"])
        except (KeyError, TypeError, ValueError):
            return "outputConfig.textFormat.structure.jsonSchema.schema must be a JSON schema as a string"
    return None


def turn_from_converse(body: dict[str, Any], model: str) -> MockTurn:
    messages: list[tuple[str, str]] = [("system", b["text"]) for b in body.get("system") or [] if "text" in b]
    for message in body["messages"]:
        texts: list[str] = []
        for block in message["content"]:
            if "text" in block:
                texts.append(block["text"])
            elif "toolResult" in block:
                result = block["toolResult"].get("content") or []
                messages.append(("tool", " ".join(str(c.get("text", c.get("json", ""))) for c in result)))
        if texts or not any("toolResult" in b for b in message["content"]):
            messages.append((message["role"], " ".join(texts)))
    config = body.get("toolConfig") or {}
    tools = [
        MockTool(t["toolSpec"]["name"], (t["toolSpec"].get("inputSchema") or {}).get("json") or {})
        for t in config.get("tools") or []
        if "toolSpec" in t
    ]
    choice_raw = config.get("toolChoice") or {}
    choice = "required" if "any" in choice_raw else (choice_raw.get("tool") or {}).get("name")
    inference = body.get("inferenceConfig") or {}
    structure = (((body.get("outputConfig") or {}).get("textFormat") or {}).get("structure") or {}).get(
        "jsonSchema"
    )
    return MockTurn(
        provider="bedrock",
        model=model,
        messages=messages,
        tools=tools,
        tool_choice=choice,
        max_tokens=inference.get("maxTokens"),
        json_schema=json.loads(structure["schema"]) if structure else None,
        stop=list(inference.get("stopSequences") or []),
    )


def _usage(reply: MockReply) -> dict[str, int]:
    total = reply.prompt_tokens + reply.completion_tokens
    return {"inputTokens": reply.prompt_tokens, "outputTokens": reply.completion_tokens, "totalTokens": total}


def _tool_use_id(call_id: str) -> str:
    return "tooluse_" + call_id.removeprefix("call_")


def converse_body(reply: MockReply) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
    for call in reply.tool_calls:
        content.append(
            {"toolUse": {"toolUseId": _tool_use_id(call.id), "name": call.name, "input": call.arguments}}
        )
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": _STOP_REASONS.get(reply.finish_reason, "end_turn"),
        "usage": _usage(reply),
        "metrics": {"latencyMs": 42},
    }


def event_frame(event_type: str, payload: dict[str, Any], padding: int) -> bytes:
    """One ConverseStream event as Bedrock frames it, with its ``"p"`` padding field."""
    body = {**payload, "p": _PADDING[: padding % len(_PADDING)]}
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(body, separators=(",", ":")).encode())


def stream_frames(reply: MockReply) -> Iterator[bytes]:
    n = 0

    def frame(event_type: str, payload: dict[str, Any]) -> bytes:
        nonlocal n
        n += 1
        return event_frame(event_type, payload, 7 * n + 3)

    yield frame("messageStart", {"role": "assistant"})
    index = 0
    if reply.text:  # Bedrock sends no contentBlockStart for text blocks
        for word in reply.words():
            yield frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": word}})
        yield frame("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    for call in reply.tool_calls:
        start = {"toolUse": {"toolUseId": _tool_use_id(call.id), "name": call.name}}
        yield frame("contentBlockStart", {"contentBlockIndex": index, "start": start})
        args = call.arguments_json()
        for i in range(0, len(args), 8):
            delta = {"toolUse": {"input": args[i : i + 8]}}
            yield frame("contentBlockDelta", {"contentBlockIndex": index, "delta": delta})
        yield frame("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    yield frame("messageStop", {"stopReason": _STOP_REASONS.get(reply.finish_reason, "end_turn")})
    yield frame("metadata", {"usage": _usage(reply), "metrics": {"latencyMs": 42}})


def routes(state: MockState) -> list[BaseRoute]:
    async def converse(request: Request) -> Response:
        body, decision = await intake(state, request)
        problem = auth_problem(request)
        if problem:
            # Bedrock answers a missing or malformed signature with 403, not 401.
            return error_response(403, problem, "MissingAuthenticationTokenException")
        if decision.status:
            return error_response(
                decision.status, f"mock fault: HTTP {decision.status}", None, retry_headers(decision)
            )
        problem = validation_problem(body)
        if problem:
            return error_response(400, problem)
        model = request.path_params["model_id"]
        reply = reply_for(turn_from_converse(body, model))
        request_id = {"x-amzn-RequestId": str(uuid.uuid4())}
        if request.url.path.endswith("/converse-stream"):
            media = "application/vnd.amazon.eventstream"
            return paced_stream(state, stream_frames(reply), decision, media_type=media, headers=request_id)
        return JSONResponse(converse_body(reply), headers=request_id)

    return [
        Route("/model/{model_id:path}/converse", converse, methods=["POST"]),
        Route("/model/{model_id:path}/converse-stream", converse, methods=["POST"]),
    ]
