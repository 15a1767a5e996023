"""Anthropic's Messages API ⇄ the canonical schema, for clients that speak it to Alfred.

This runs in the opposite direction to a provider adapter: requests arrive in Anthropic's format and
become canonical ``ChatRequest``s, so any model Alfred serves can answer them; canonical responses go
back as Anthropic ``message`` objects (``anthropic_message.py``), streams as its events
(``anthropic_stream.py``). This module is the request half.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from msgspec import Struct

from alfred.api.parsing import decode_json_object
from alfred.config import ServerSettings
from alfred.errors import InvalidRequestError
from alfred.schema import (
    ChatRequest,
    ContentPart,
    FunctionCall,
    FunctionDef,
    ImageURL,
    Message,
    Tool,
    ToolCall,
)

# -- the request, as Anthropic clients send it ---------------------------------------------------
# Nested structs ignore fields they do not know (cache_control, citations, …): those shape caching
# or presentation on Anthropic's side and have no canonical meaning.


class TextBlock(Struct, tag="text", tag_field="type"):
    text: str


class Base64Source(Struct, tag="base64", tag_field="type"):
    media_type: str
    data: str


class URLSource(Struct, tag="url", tag_field="type"):
    url: str


class ImageBlock(Struct, tag="image", tag_field="type"):
    source: Base64Source | URLSource


class ToolUseBlock(Struct, tag="tool_use", tag_field="type"):
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(Struct, tag="tool_result", tag_field="type"):
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock] | None = None
    is_error: bool = False


class ThinkingBlock(Struct, tag="thinking", tag_field="type"):
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(Struct, tag="redacted_thinking", tag_field="type"):
    data: str


ContentBlock = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock


class InputMessage(Struct):
    role: str
    content: str | list[ContentBlock]


class ToolSpec(Struct):
    name: str
    input_schema: dict[str, Any]
    description: str | None = None
    type: str | None = None
    strict: bool | None = None


class ToolChoiceSpec(Struct):
    type: str
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Metadata(Struct):
    user_id: str | None = None


class OutputFormat(Struct):
    type: str
    schema: dict[str, Any]


class OutputConfig(Struct):
    format: OutputFormat | None = None
    effort: str | None = None  # a hint with no canonical equivalent; accepted and not forwarded


class MessagesRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """A ``POST /v1/messages`` body in Anthropic's format; unknown fields are refused, not ignored."""

    model: str
    max_tokens: int
    messages: list[InputMessage]
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None  # validated, then dropped: OpenAI's schema has no top_k
    tools: list[ToolSpec] | None = None
    tool_choice: ToolChoiceSpec | None = None
    metadata: Metadata | None = None
    output_config: OutputConfig | None = None
    stream: bool = False
    # Generation hints whose absence does not change what a reply means (a model that cannot
    # think simply answers without thinking blocks): accepted, never parsed, never forwarded.
    thinking: msgspec.Raw = msgspec.Raw()
    cache_control: msgspec.Raw = msgspec.Raw()
    service_tier: msgspec.Raw = msgspec.Raw()
    inference_geo: msgspec.Raw = msgspec.Raw()
    speed: msgspec.Raw = msgspec.Raw()


_decoder = msgspec.json.Decoder(MessagesRequest)
_BLOCKS_BY_ROLE: dict[str, tuple[type, ...]] = {
    "user": (TextBlock, ImageBlock, ToolResultBlock),
    "assistant": (TextBlock, ToolUseBlock, ThinkingBlock, RedactedThinkingBlock),
}
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_PATH = re.compile(r"at `\$((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)`")
_FIELD = re.compile(r"^Object (missing required|contains unknown) field `([^`]+)`")
_json = msgspec.json.Encoder()


def parse_messages_request(body: bytes, limits: ServerSettings) -> ChatRequest:
    """An Anthropic request body as a canonical request, or a 400 naming the offending field."""
    try:
        wire = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _validation_error(str(exc)) from None
    except msgspec.DecodeError:
        decode_json_object(body)  # raises the gateway's usual message for bodies that are not JSON
        raise InvalidRequestError("could not parse the JSON body") from None
    check_messages_request(wire, limits)
    return to_canonical(wire)


def _validation_error(message: str) -> InvalidRequestError:
    """msgspec's message, with the field it names as ``param`` (``messages[0].content[1].type``)."""
    path = _PATH.search(message)
    param = path.group(1).lstrip(".") if path else ""
    field = _FIELD.match(message)
    if field:
        missing, name = field.group(1) == "missing required", field.group(2)
        param = f"{param}.{name}" if param else name
        if missing:
            return InvalidRequestError(f"'{param}' is required", param=param)
        return InvalidRequestError(f"unsupported parameter '{param}'", param=param)
    return InvalidRequestError(f"invalid request: {message}", param=param or None)


def _bad(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


def check_messages_request(wire: MessagesRequest, limits: ServerSettings) -> None:
    """Checks beyond types, in Anthropic's terms, so bad input never reaches a provider."""
    if not wire.model:
        raise _bad("'model' must be a non-empty string", "model")
    if wire.max_tokens < 1:
        raise _bad("'max_tokens' must be at least 1", "max_tokens")
    if not wire.messages:
        raise _bad("'messages' must contain at least one message", "messages")
    if len(wire.messages) > limits.max_messages:
        raise _bad(
            f"too many messages ({len(wire.messages)}); the limit is {limits.max_messages}", "messages"
        )
    for i, message in enumerate(wire.messages):
        allowed = _BLOCKS_BY_ROLE.get(message.role)
        if allowed is None:
            raise _bad(
                f"messages[{i}].role must be 'user' or 'assistant'; got {message.role!r}",
                f"messages[{i}].role",
            )
        if isinstance(message.content, str):
            continue
        if not message.content:
            raise _bad(f"messages[{i}].content must not be empty", f"messages[{i}].content")
        for j, block in enumerate(message.content):
            if not isinstance(block, allowed):
                kind = type(block).__struct_config__.tag
                raise _bad(
                    f"a '{kind}' block is not allowed in a {message.role} message",
                    f"messages[{i}].content[{j}].type",
                )
            if isinstance(block, ToolResultBlock) and not block.tool_use_id:
                raise _bad(
                    "'tool_use_id' must be a non-empty string", f"messages[{i}].content[{j}].tool_use_id"
                )
    if wire.temperature is not None and not 0 <= wire.temperature <= 1:
        raise _bad("'temperature' must be between 0 and 1", "temperature")
    if wire.top_p is not None and not 0 <= wire.top_p <= 1:
        raise _bad("'top_p' must be between 0 and 1", "top_p")
    if wire.top_k is not None and wire.top_k < 0:
        raise _bad("'top_k' must be at least 0", "top_k")
    for i, stop in enumerate(wire.stop_sequences or ()):
        if not stop:
            raise _bad("stop sequences must be non-empty strings", f"stop_sequences[{i}]")
    names: set[str] = set()
    for i, tool in enumerate(wire.tools or ()):
        if tool.type not in (None, "custom"):
            raise _bad(f"tool type {tool.type!r} is not supported; only client tools are", f"tools[{i}].type")
        if not tool.name or tool.name in names:
            raise _bad("tool names must be non-empty and unique", f"tools[{i}].name")
        names.add(tool.name)
    _check_tool_choice(wire.tool_choice, names)
    fmt = wire.output_config.format if wire.output_config else None
    if fmt is not None and fmt.type != "json_schema":
        raise _bad("'output_config.format.type' must be 'json_schema'", "output_config.format.type")


def _check_tool_choice(choice: ToolChoiceSpec | None, tools: set[str]) -> None:
    if choice is None:
        return
    if choice.type not in ("auto", "any", "tool", "none"):
        raise _bad("'tool_choice.type' must be one of auto, any, tool, none", "tool_choice.type")
    if choice.type in ("any", "tool") and not tools:
        raise _bad(f"tool_choice '{choice.type}' needs 'tools'", "tool_choice")
    if choice.type == "tool" and choice.name not in tools:
        raise _bad(f"tool_choice names a tool that is not in 'tools': {choice.name!r}", "tool_choice.name")


# -- Anthropic → canonical -----------------------------------------------------------------------


def to_canonical(wire: MessagesRequest) -> ChatRequest:
    messages: list[Message] = []
    if wire.system:
        system = wire.system if isinstance(wire.system, str) else "\n".join(b.text for b in wire.system)
        messages.append(Message("system", system))
    for message in wire.messages:
        if isinstance(message.content, str):
            messages.append(Message(message.role, message.content))
        elif message.role == "assistant":
            messages.append(_assistant_message(message.content))
        else:
            messages.extend(_user_messages(message.content))
    request = ChatRequest(
        model=wire.model,
        messages=messages,
        stream=wire.stream,
        max_tokens=wire.max_tokens,
        temperature=wire.temperature,
        top_p=wire.top_p,
        stop=list(wire.stop_sequences) if wire.stop_sequences else None,
        user=wire.metadata.user_id if wire.metadata else None,
    )
    if wire.tools:
        request.tools = [
            Tool(FunctionDef(t.name, t.description, t.input_schema, t.strict)) for t in wire.tools
        ]
        choice = wire.tool_choice
        if choice is not None:
            request.tool_choice = (
                {"type": "function", "function": {"name": choice.name}}
                if choice.type == "tool"
                else _TOOL_CHOICES[choice.type]
            )
            if choice.disable_parallel_tool_use is not None:
                request.parallel_tool_calls = not choice.disable_parallel_tool_use
    fmt = wire.output_config.format if wire.output_config else None
    if fmt is not None:
        request.response_format = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt.schema},
        }
    return request


def _image_url(block: ImageBlock) -> ImageURL:
    source = block.source
    if isinstance(source, Base64Source):
        return ImageURL(f"data:{source.media_type};base64,{source.data}")
    return ImageURL(source.url)


def _user_messages(blocks: list[ContentBlock]) -> list[Message]:
    """One ``tool`` message per tool result (they must follow the assistant's call), then the rest."""
    results: list[Message] = []
    parts: list[ContentPart] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            parts.append(ContentPart("text", text=block.text))
        elif isinstance(block, ImageBlock):
            parts.append(ContentPart("image_url", image_url=_image_url(block)))
        elif isinstance(block, ToolResultBlock):
            text, images = _tool_result(block)
            results.append(Message("tool", text, tool_call_id=block.tool_use_id))
            # OpenAI's tool messages hold text only; a result's images ride in the user turn after.
            parts.extend(ContentPart("image_url", image_url=_image_url(image)) for image in images)
    if parts:
        only_text = len(parts) == 1 and parts[0].type == "text"
        results.append(Message("user", parts[0].text if only_text else parts))
    return results


def _tool_result(block: ToolResultBlock) -> tuple[str, list[ImageBlock]]:
    content = block.content
    images: list[ImageBlock] = []
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        text = "\n".join(b.text for b in content if isinstance(b, TextBlock))
        images = [b for b in content if isinstance(b, ImageBlock)]
    if block.is_error:
        # The canonical schema has no error flag on tool results; the model still has to know.
        text = f"Error: {text}" if text else "Error"
    return text, images


def _assistant_message(blocks: list[ContentBlock]) -> Message:
    # Thinking blocks are the model's private reasoning from an earlier turn: not forwarded.
    text = "".join(b.text for b in blocks if isinstance(b, TextBlock))
    calls = [
        ToolCall(b.id, FunctionCall(b.name, _json.encode(b.input).decode()))
        for b in blocks
        if isinstance(b, ToolUseBlock)
    ]
    if calls:
        return Message("assistant", text or None, tool_calls=calls)
    return Message("assistant", text)
