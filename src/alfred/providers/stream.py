"""A stream of canonical chunks from an upstream, with the means to cancel it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from alfred.schema import ChatChunk


class ChunkStream(Protocol):
    """Async iterator of canonical chunks; ``aclose`` cancels the upstream request.

    ``complete`` is true once the provider's own end marker arrived; iteration raises
    ``AlfredError`` if the upstream failed mid-stream.
    """

    complete: bool

    def __aiter__(self) -> AsyncIterator[ChatChunk]: ...

    async def aclose(self) -> None: ...
