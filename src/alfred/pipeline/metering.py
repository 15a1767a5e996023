"""Meters every result at the pipeline's base: usage from the provider when it reports it, else counted.

The handler's result is wrapped here so that every stage above sees ``call.usage`` filled in, for
whole responses at once and for streams chunk by chunk, including streams that are cut or cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from alfred.errors import AlfredError
from alfred.pipeline.call import Call, Result
from alfred.pipeline.stage import Next
from alfred.providers.stream import ChunkStream
from alfred.schema import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    Usage,
)
from alfred.schema.tokens import estimate_prompt_tokens, estimate_text_tokens


class MeteredHandler:
    """Wraps the dispatcher: fills ``call.usage`` and timing for every kind of result."""

    def __init__(self, handler: Next) -> None:
        self._handler = handler

    async def __call__(self, call: Call) -> Result:
        result = await self._handler(call)
        if isinstance(result, ChatResponse):
            if result.usage:
                call.usage = result.usage
                call.usage_reported = True
            else:
                assert isinstance(call.request, ChatRequest)
                prompt = estimate_prompt_tokens(call.request)
                completion = sum(
                    estimate_text_tokens(c.message.content or "")
                    + sum(estimate_text_tokens(t.function.arguments) for t in (c.message.tool_calls or ()))
                    for c in result.choices
                )
                call.usage = Usage(prompt, completion, prompt + completion)
            call.outcome = "ok"
            return result
        if isinstance(result, EmbeddingResponse):
            call.usage = Usage(result.usage.prompt_tokens, 0, result.usage.total_tokens)
            call.usage_reported = True
            if not result.usage.total_tokens:
                # Some providers (Gemini) report no embedding usage: count it, and tell the client too.
                assert isinstance(call.request, EmbeddingRequest)
                tokens = sum(estimate_text_tokens(t) for t in call.request.texts())
                call.usage = Usage(tokens, 0, tokens)
                call.usage_reported = False
                result.usage = EmbeddingUsage(tokens, tokens)
            call.outcome = "ok"
            return result
        return MeteredStream(result, call)


class MeteredStream:
    """Counts a stream's chunks, bytes of text and tokens, and records how it ended."""

    def __init__(self, inner: ChunkStream, call: Call) -> None:
        self._inner = inner
        self._call = call
        self.chunks = 0
        self.text_chars = 0
        self.complete = False

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        call = self._call
        request = call.request
        assert isinstance(request, ChatRequest)
        reported: Usage | None = None
        try:
            async for chunk in self._inner:
                if self.chunks == 0:
                    call.first_chunk_ns = time.perf_counter_ns()
                self.chunks += 1
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        self.text_chars += len(delta.content)
                    for tool in delta.tool_calls or ():
                        if tool.function and tool.function.arguments:
                            self.text_chars += len(tool.function.arguments)
                        if tool.function and tool.function.name:
                            self.text_chars += len(tool.function.name)
                if chunk.usage:
                    reported = chunk.usage
                yield chunk
            self.complete = self._inner.complete
            call.outcome = "ok"
        except asyncio.CancelledError:
            call.outcome = "cancelled"
            raise
        except GeneratorExit:
            call.outcome = "cancelled"
            raise
        except AlfredError as exc:
            call.outcome = "cut"
            call.error = exc
            raise
        finally:
            call.finished_ns = time.perf_counter_ns()
            if reported is not None and reported.completion_tokens:
                call.usage = reported
                call.usage_reported = True
            else:
                prompt = reported.prompt_tokens if reported else estimate_prompt_tokens(request)
                completion = (self.text_chars + 3) // 4
                call.usage = Usage(prompt, completion, prompt + completion)
                call.usage_reported = False
            if call.outcome == "pending":
                call.outcome = "cancelled"

    async def aclose(self) -> None:
        await self._inner.aclose()
