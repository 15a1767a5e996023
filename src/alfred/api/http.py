"""Thin ASGI helpers for the data plane: bounded body reads, JSON and SSE responses.

The data plane speaks raw ASGI (no Request/Response objects) because it is the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

from alfred.errors import InvalidRequestError, PayloadTooLargeError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any  # Callable[[], Awaitable[Message]]
Send = Any  # Callable[[Message], Awaitable[None]]

JSON_HEADERS: tuple[tuple[bytes, bytes], ...] = ((b"content-type", b"application/json"),)
SSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)


def request_headers(scope: Scope) -> dict[str, str]:
    """Request headers as a lower-cased dict (the last value wins on repeats)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The whole request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLargeError(
                    f"request body of {declared} bytes exceeds the limit of {limit} bytes"
                )
        except ValueError:
            raise InvalidRequestError("invalid Content-Length header") from None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError("client disconnected while sending the body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def encode_headers(extra: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    base: Iterable[tuple[bytes, bytes]] = JSON_HEADERS,
    extra: dict[str, str] | None = None,
) -> None:
    headers = [*base, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(encode_headers(extra))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_stream(
    send: Send,
    receive: Receive,
    status: int,
    headers: list[tuple[bytes, bytes]],
    frames: AsyncIterator[bytes],
) -> bool:
    """Send frames as they come; returns False if the client went away (the producer is cancelled).

    The first frame is sent with the head, in one write, before anything else is started: a stream
    comes primed (its first chunk is in before the pipeline returns it), and on a quiet connection
    each separate write and each loop turn before the first byte showed in the client's time to it.
    After that, the client's disconnect is watched concurrently, so a stalled upstream is cancelled
    as soon as the client leaves rather than when the next chunk arrives.
    """
    first = await anext(frames, None)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if first is None:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True
    await send({"type": "http.response.body", "body": first, "more_body": True})

    async def pump() -> None:
        async for frame in frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    producer = asyncio.ensure_future(pump())
    watcher = asyncio.ensure_future(watch())
    try:
        done, _ = await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if producer in done:
            producer.result()  # re-raise a producer failure
            return True
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        return False
    finally:
        watcher.cancel()
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
