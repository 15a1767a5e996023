"""Canonical chunks → Anthropic's Messages stream (SSE with ``event:`` lines).

Anthropic's stream is a sequence of content blocks, each opened, filled with deltas and closed in
order, framed by ``message_start`` and ``message_delta``/``message_stop``. OpenAI-style chunks carry
text and tool-call fragments interleaved by position instead, so ``MessageStreamRenderer`` keeps one
block open at a time and switches blocks when the kind of content (or the tool call) changes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import msgspec
from msgspec import Struct

from alfred.api.anthropic_message import (
    MessageOut,
    TextOut,
    ToolUseOut,
    UsageOut,
    messages_error_body,
    stop_reason,
    usage_out,
)
from alfred.errors import AlfredError
from alfred.pipeline import Call
from alfred.providers.stream import ChunkStream
from alfred.schema import ChatChunk, ChatRequest, ToolCallDelta, Usage
from alfred.schema.tokens import estimate_prompt_tokens

log = logging.getLogger("alfred.api")
_encoder = msgspec.json.Encoder()


class TextDelta(Struct, tag="text_delta", tag_field="type"):
    text: str


class InputJSONDelta(Struct, tag="input_json_delta", tag_field="type"):
    partial_json: str


class MessageStart(Struct, tag="message_start", tag_field="type"):
    message: MessageOut


class ContentBlockStart(Struct, tag="content_block_start", tag_field="type"):
    index: int
    content_block: TextOut | ToolUseOut


class ContentBlockDelta(Struct, tag="content_block_delta", tag_field="type"):
    index: int
    delta: TextDelta | InputJSONDelta


class ContentBlockStop(Struct, tag="content_block_stop", tag_field="type"):
    index: int


class StopDelta(Struct):
    stop_reason: str | None
    stop_sequence: str | None = None


class MessageDelta(Struct, tag="message_delta", tag_field="type"):
    delta: StopDelta
    usage: UsageOut


class MessageStop(Struct, tag="message_stop", tag_field="type"):
    pass


Event = MessageStart | ContentBlockStart | ContentBlockDelta | ContentBlockStop | MessageDelta | MessageStop


def frame(event: Event) -> bytes:
    name = type(event).__struct_config__.tag
    assert isinstance(name, str)
    return b"event: " + name.encode() + b"\ndata: " + _encoder.encode(event) + b"\n\n"


def error_frame(error: AlfredError, request_id: str | None) -> bytes:
    return b"event: error\ndata: " + messages_error_body(error, request_id) + b"\n\n"


class MessageStreamRenderer:
    """Turns canonical chunks into Anthropic stream events; pure, so it is tested frame by frame.

    ``feed`` each chunk, then ``finish`` with the metered usage. Only the first choice is rendered:
    Anthropic's API has no ``n``, and the request built from it never asks for more than one.
    """

    def __init__(self, message_id: str, model: str, estimated_input_tokens: int) -> None:
        self._message_id = message_id
        self._model = model
        self._input_tokens = estimated_input_tokens
        self._started = False
        self._next_index = 0
        self._open: int | None = None  # the index of the open block
        self._open_text = False
        self._tool_blocks: dict[int, int] = {}  # canonical tool-call index → block index
        self._finish_reason: str | None = None
        self._refused = False

    def feed(self, chunk: ChatChunk) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            if chunk.model:
                self._model = chunk.model
            if isinstance(chunk.usage, Usage) and chunk.usage.prompt_tokens:
                self._input_tokens = chunk.usage.prompt_tokens
            out.append(self._start())
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            text = delta.content or delta.refusal
            if delta.refusal:
                self._refused = True
            if text:
                if not self._open_text:
                    self._close(out)
                    self._open_block(TextOut(""), out)
                    self._open_text = True
                assert self._open is not None
                out.append(frame(ContentBlockDelta(self._open, TextDelta(text))))
            for call in delta.tool_calls or ():
                self._tool_fragment(call, out)
            if choice.finish_reason is not None:
                self._finish_reason = choice.finish_reason
        return out

    def finish(self, usage: Usage | None) -> list[bytes]:
        """Close the open block and end the message with its stop reason and final usage."""
        out: list[bytes] = [] if self._started else [self._start()]
        self._close(out)
        finish_reason = "content_filter" if self._refused else self._finish_reason
        reason = stop_reason(finish_reason, bool(self._tool_blocks))
        final = usage_out(usage) if usage is not None else UsageOut(self._input_tokens, 0)
        out.append(frame(MessageDelta(StopDelta(reason), final)))
        out.append(frame(MessageStop()))
        return out

    def _start(self) -> bytes:
        self._started = True
        message = MessageOut(
            id=self._message_id,
            model=self._model,
            content=[],
            stop_reason=None,
            usage=UsageOut(self._input_tokens, 0),
        )
        return frame(MessageStart(message))

    def _open_block(self, block: TextOut | ToolUseOut, out: list[bytes]) -> int:
        index = self._next_index
        self._next_index += 1
        self._open = index
        out.append(frame(ContentBlockStart(index, block)))
        return index

    def _close(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(frame(ContentBlockStop(self._open)))
        self._open = None
        self._open_text = False

    def _tool_fragment(self, call: ToolCallDelta, out: list[bytes]) -> None:
        function = call.function
        block = self._tool_blocks.get(call.index)
        if block is None:
            self._close(out)
            call_id = call.id or f"toolu_{self._message_id.removeprefix('msg_')}_{call.index}"
            name = (function.name if function else None) or ""
            block = self._open_block(ToolUseOut(call_id, name, {}), out)
            self._tool_blocks[call.index] = block
        # Providers send one call's fragments before the next call's; should one interleave, its
        # late fragments still go to their own block by index, which is how clients assemble them.
        if function and function.arguments:
            out.append(frame(ContentBlockDelta(block, InputJSONDelta(function.arguments))))


async def message_events(stream: ChunkStream, call: Call, request: ChatRequest) -> AsyncIterator[bytes]:
    """The SSE body for a streamed call; a failure after the first byte becomes an ``error`` event.

    The stream is metered underneath, so ``call.usage`` holds the final counts once it is drained.
    """
    renderer = MessageStreamRenderer(
        f"msg_{call.request_id}", call.upstream_model or request.model, estimate_prompt_tokens(request)
    )
    try:
        async for chunk in stream:
            frames = renderer.feed(chunk)
            if frames:
                yield b"".join(frames)
    except AlfredError as exc:
        yield error_frame(exc, call.request_id)
        return
    except Exception:
        # Never end a stream silently: the client must learn the message is incomplete.
        log.exception("stream rendering failed", extra={"request_id": call.request_id})
        yield error_frame(AlfredError("internal error while streaming the response"), call.request_id)
        return
    yield b"".join(renderer.finish(call.usage))
