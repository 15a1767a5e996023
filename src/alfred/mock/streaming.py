"""Stream helpers for provider mocks: pacing, cutting and counting streams as faults ask."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from starlette.responses import StreamingResponse

from alfred.mock.state import Decision, MockState


def paced_stream(
    state: MockState,
    frames: Iterable[bytes],
    decision: Decision,
    media_type: str = "text/event-stream",
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """A streaming response that honours ``slow_chunk_ms`` and ``drop_after_chunks`` and counts itself.

    A dropped stream ends the HTTP response without the provider's end marker (the body simply
    stops), as a cut connection looks to a client reading it.
    """

    async def body() -> AsyncIterator[bytes]:
        state.streams_started += 1
        state.in_flight += 1
        sent = 0
        try:
            for frame in frames:
                if decision.drop_after_chunks is not None and sent >= decision.drop_after_chunks:
                    state.streams_completed += 1
                    return
                if decision.slow_chunk_ms:
                    await asyncio.sleep(decision.slow_chunk_ms / 1000)
                yield frame
                sent += 1
            state.streams_completed += 1
        except (asyncio.CancelledError, GeneratorExit):
            state.streams_cancelled += 1
            raise
        finally:
            state.in_flight -= 1

    return StreamingResponse(body(), media_type=media_type, headers=headers)
