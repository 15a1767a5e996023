"""Canonical (OpenAI) chat request → Bedrock Converse request body.

Shapes follow botocore's ``data/bedrock-runtime/2023-09-30/service-2.json``: messages of content
blocks (``text``, ``image``, ``toolUse``, ``toolResult``), a top-level ``system``, ``inferenceConfig``,
``toolConfig`` and, for JSON-schema output, ``outputConfig.textFormat``. ConverseStream takes the
same body.
"""

from __future__ import annotations

import json
from typing import Any

from alfred.errors import InvalidRequestError
from alfred.schema import ChatRequest, Message

_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def converse_body(request: ChatRequest) -> dict[str, Any]:
    """The Converse request body (the model id goes in the URL, not here)."""
    if request.n is not None and request.n > 1:
        raise InvalidRequestError("bedrock returns one choice per request; n > 1 is not supported", param="n")
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role in ("system", "developer"):
            text = message.text()
            if text:
                system.append({"text": text})
            continue
        role, blocks = _blocks(message)
        if not blocks:
            continue
        # Converse wants roles to alternate; consecutive tool results (and a user turn after them)
        # belong in one user message.
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    if request.output_limit() is not None:
        inference["maxTokens"] = request.output_limit()
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if request.stop_list():
        inference["stopSequences"] = request.stop_list()
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(request)
    if tool_config:
        body["toolConfig"] = tool_config
    fmt = request.response_format or {}
    if fmt.get("type") == "json_schema":
        # Structured output takes the schema as a JSON string. "json_object" has no Converse
        # equivalent (structured output needs a schema), so it is not sent.
        spec = fmt.get("json_schema") or {}
        structure: dict[str, Any] = {"schema": json.dumps(spec.get("schema") or {"type": "object"})}
        if spec.get("name"):
            structure["name"] = spec["name"]
        if spec.get("description"):
            structure["description"] = spec["description"]
        body["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": structure}}}
    return body


def _blocks(message: Message) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "tool":
        if not message.tool_call_id:
            raise InvalidRequestError("a tool message needs the tool_call_id it answers", param="messages")
        result = {"toolUseId": message.tool_call_id, "content": [{"text": message.text()}]}
        return "user", [{"toolResult": result}]
    if message.role not in ("user", "assistant"):
        raise InvalidRequestError(f"bedrock has no message role {message.role!r}", param="messages")
    blocks: list[dict[str, Any]] = []
    if isinstance(message.content, str):
        if message.content:  # Converse rejects blank text blocks
            blocks.append({"text": message.content})
    elif message.content:
        for part in message.content:
            if part.type == "text" and part.text:
                blocks.append({"text": part.text})
            elif part.type == "image_url" and part.image_url is not None:
                blocks.append({"image": _image(part.image_url.url)})
    for call in message.tool_calls or ():
        try:
            arguments = json.loads(call.function.arguments) if call.function.arguments.strip() else {}
        except ValueError as exc:
            raise InvalidRequestError(
                f"tool call {call.id!r} has arguments that are not JSON", param="messages"
            ) from exc
        blocks.append({"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": arguments}})
    return message.role, blocks


def _image(url: str) -> dict[str, Any]:
    # Converse takes inline bytes or S3 locations only; it never fetches a URL.
    if not url.startswith("data:"):
        raise InvalidRequestError("bedrock accepts images only as data: URLs (base64)", param="messages")
    header, _, data = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    fmt = _IMAGE_FORMATS.get(mime.lower())
    if fmt is None or encoding != "base64":
        raise InvalidRequestError(f"bedrock accepts base64 png, jpeg, gif or webp images, not {header!r}")
    return {"format": fmt, "source": {"bytes": data}}  # blobs travel base64-encoded in JSON


def _tool_config(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if not request.tools or choice == "none":
        return None
    tools = []
    for tool in request.tools:
        spec: dict[str, Any] = {
            "name": tool.function.name,
            "inputSchema": {"json": tool.function.parameters or {"type": "object", "properties": {}}},
        }
        if tool.function.description:
            spec["description"] = tool.function.description
        tools.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": tools}
    if choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not name:
            raise InvalidRequestError("tool_choice names no function", param="tool_choice")
        config["toolChoice"] = {"tool": {"name": name}}
    return config
