"""Turns an open upstream byte stream and a provider's decoder into a stream of canonical chunks."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

from alfred.errors import UpstreamError
from alfred.providers.base import StreamDecoder
from alfred.providers.transport import UpstreamStream
from alfred.schema import ChatChunk


class UpstreamChunkStream:
    """Canonical chunks decoded from one upstream response, primed before the first byte is sent."""

    def __init__(self, upstream: UpstreamStream, decoder: StreamDecoder, provider: str) -> None:
        self._upstream = upstream
        self._decoder = decoder
        self._provider = provider
        self._bytes = upstream.iter_bytes()
        self._pending: deque[ChatChunk] = deque()
        self._eof = False
        self.complete = False

    async def prime(self) -> None:
        """Read until the first chunk is decoded, so failures before it can still be retried."""
        while not self._pending and not self._eof:
            await self._read()

    async def _read(self) -> None:
        try:
            data = await anext(self._bytes)
        except StopAsyncIteration:
            self._eof = True
            self._pending.extend(self._decoder.close())
            self.complete = self._decoder.finished
            return
        self._pending.extend(self._decoder.feed(data))
        if self._decoder.finished:
            self.complete = True

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        try:
            while True:
                while self._pending:
                    yield self._pending.popleft()
                if self._eof or self.complete:
                    break
                await self._read()
            if not self.complete:
                raise UpstreamError(
                    f"{self._provider}: the stream ended before the provider finished it",
                    code="stream_cut",
                    retryable=False,
                )
        finally:
            if self._eof:
                self._upstream.release()
            else:
                self._upstream.close()

    async def aclose(self) -> None:
        self._upstream.close()
