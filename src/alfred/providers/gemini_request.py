"""Canonical chat and embedding requests → Gemini's ``generateContent`` / ``batchEmbedContents`` bodies.

Where the schemas differ: system messages become the top-level ``systemInstruction``; turns are
``contents`` with roles ``user`` and ``model``; tool calls are ``functionCall`` parts whose ``args``
is an object (not a JSON string); a tool result is a ``functionResponse`` part in a user turn, named
by the function (Gemini has no call ids), so the name is looked up from the earlier call's id;
images are ``inlineData`` (base64) or ``fileData`` (a URI); sampling options live in
``generationConfig``.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any
from urllib.parse import urlsplit

from alfred.errors import InvalidRequestError
from alfred.providers.gemini_schema import gemini_schema
from alfred.schema import ChatRequest, ContentPart, EmbeddingRequest, FunctionDef, Message

Part = dict[str, Any]
Content = dict[str, Any]

# Google's documented placeholder for replaying a Gemini 3 function call whose thoughtSignature
# the client did not keep (OpenAI-shaped history has nowhere to keep it); without one, Gemini 3
# answers 400 "Function call is missing a thought_signature".
SKIP_SIGNATURE = "skip_thought_signature_validator"
_SYSTEM_ROLES = frozenset({"system", "developer"})
_TOOL_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def model_path(model: str) -> str:
    """``models/{id}`` as Gemini's URLs and embedding requests name a model."""
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def chat_body(request: ChatRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": _contents(request.messages, model)}
    system = [
        {"text": message.text()}
        for message in request.messages
        if message.role in _SYSTEM_ROLES and message.text()
    ]
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(tool.function) for tool in request.tools]}]
        tool_config = _tool_config(request.tool_choice)
        if tool_config:
            body["toolConfig"] = tool_config
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    return body


def embeddings_body(request: EmbeddingRequest, model: str) -> dict[str, Any]:
    if not isinstance(request.input, str) and any(not isinstance(item, str) for item in request.input):
        raise InvalidRequestError("Gemini embeddings take text input, not token ids", param="input")
    name = model_path(model)
    requests = []
    for text in request.texts():
        item: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if request.dimensions:
            item["outputDimensionality"] = request.dimensions
        requests.append(item)
    return {"requests": requests}


# -- messages ---------------------------------------------------------------------------------
def _contents(messages: list[Message], model: str) -> list[Content]:
    contents: list[Content] = []
    call_names: dict[str, str] = {}
    needs_signature = _requires_thought_signature(model)
    after_tool_result = False
    for index, message in enumerate(messages):
        role = message.role
        if role in _SYSTEM_ROLES:
            continue
        if role in ("tool", "function"):
            part = _function_response(message, call_names, index)
            if after_tool_result:
                contents[-1]["parts"].append(part)  # the answers to parallel calls share one turn
            else:
                contents.append({"role": "user", "parts": [part]})
            after_tool_result = True
            continue
        after_tool_result = False
        if role == "assistant":
            parts = _parts(message, index) if message.content else []
            for position, call in enumerate(message.tool_calls or ()):
                call_names[call.id] = call.function.name
                part = {
                    "functionCall": {
                        "name": call.function.name,
                        "args": _arguments(call.function.arguments, index),
                    }
                }
                if needs_signature and position == 0:
                    part["thoughtSignature"] = SKIP_SIGNATURE  # only a turn's first call carries one
                parts.append(part)
            if parts:
                contents.append({"role": "model", "parts": parts})
            continue
        contents.append({"role": "user", "parts": _parts(message, index)})
    return contents


def _requires_thought_signature(model: str) -> bool:
    name = model.rsplit("/", 1)[-1]
    return name.startswith(("gemini-3-", "gemini-3.")) or name == "gemini-3"


def _parts(message: Message, index: int) -> list[Part]:
    content = message.content
    if content is None:
        return [{"text": ""}]
    if isinstance(content, str):
        return [{"text": content}]
    return [_part(part, index) for part in content]


def _part(part: ContentPart, index: int) -> Part:
    if part.type == "text":
        return {"text": part.text or ""}
    if part.type == "image_url" and part.image_url is not None:
        return _image(part.image_url.url, index)
    raise InvalidRequestError(
        f"content parts of type {part.type!r} cannot be sent to Gemini", param=f"messages[{index}].content"
    )


def _image(url: str, index: int) -> Part:
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not data:
            raise InvalidRequestError(
                "image data URLs must be base64 (data:<mime>;base64,<data>)",
                param=f"messages[{index}].content",
            )
        return {"inlineData": {"mimeType": mime or "image/png", "data": data}}
    # Gemini needs a MIME type for a file URI; the part is an image, so JPEG is the safe guess.
    mime = mimetypes.guess_type(urlsplit(url).path)[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _arguments(arguments: str, index: int) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        raise InvalidRequestError(
            "tool call arguments must be a JSON object", param=f"messages[{index}].tool_calls"
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequestError(
            "tool call arguments must be a JSON object", param=f"messages[{index}].tool_calls"
        )
    return value


def _function_response(message: Message, call_names: dict[str, str], index: int) -> Part:
    name = call_names.get(message.tool_call_id or "") or message.name
    if not name:
        raise InvalidRequestError(
            f"messages[{index}].tool_call_id does not match a tool call of an earlier assistant message",
            param=f"messages[{index}].tool_call_id",
        )
    text = message.text()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    # Gemini wants an object; its documented convention puts a plain result under "output".
    response = parsed if isinstance(parsed, dict) else {"output": text}
    return {"functionResponse": {"name": name, "response": response}}


# -- tools and config -------------------------------------------------------------------------
def _declaration(function: FunctionDef) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": function.name}
    if function.description:
        declaration["description"] = function.description
    parameters = function.parameters
    # Gemini rejects an OBJECT schema with no properties, the usual shape of a no-argument tool.
    if parameters and parameters.get("properties"):
        declaration["parameters"] = gemini_schema(parameters)
    return declaration


def _tool_config(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mode = _TOOL_CHOICE_MODES.get(choice)
        if mode is None:
            raise InvalidRequestError(f"unknown tool_choice {choice!r}", param="tool_choice")
        return {"functionCallingConfig": {"mode": mode}}
    name = (choice.get("function") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequestError("tool_choice must name a function", param="tool_choice")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    limit = request.output_limit()
    if limit is not None:
        config["maxOutputTokens"] = limit
    stops = request.stop_list()
    if stops:
        config["stopSequences"] = stops
    if request.n is not None and request.n != 1:
        config["candidateCount"] = request.n
    if request.seed is not None:
        config["seed"] = request.seed
    if request.presence_penalty is not None:
        config["presencePenalty"] = request.presence_penalty
    if request.frequency_penalty is not None:
        config["frequencyPenalty"] = request.frequency_penalty
    fmt = request.response_format or {}
    if fmt.get("type") == "json_object":
        config["responseMimeType"] = "application/json"
    elif fmt.get("type") == "json_schema":
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            config["responseSchema"] = gemini_schema(schema)
    return config
