"""The guarded HTTP protocol's read deadlines over real sockets: they bound slow heads and bodies on
every request of a keep-alive connection, and never cut a connection that is between requests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from alfred.api.http_protocol import ConnectionLimits, guarded_http

TIMEOUT_S = 0.5
BODY = b'{"hello":"world"}'
REQUEST = (
    b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
    % (len(BODY), BODY)
)


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def server() -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    limits = ConnectionLimits(max_header_bytes=4096, header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S)
    config = uvicorn.Config(
        echo, http=guarded_http(limits), lifespan="off", log_level="warning", timeout_keep_alive=30
    )
    instance = uvicorn.Server(config)
    task = asyncio.ensure_future(instance.serve(sockets=[sock]))
    while not instance.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        instance.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        sock.close()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return status, await asyncio.wait_for(reader.readexactly(length), 10)


async def closed_with(reader: asyncio.StreamReader, within_s: float) -> bytes:
    """Everything the server sent until it closed the connection (fails if it stays open)."""
    return await asyncio.wait_for(reader.read(), within_s)


async def test_keep_alive_requests_are_served_and_an_idle_connection_survives(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    try:
        for _ in range(2):
            writer.write(REQUEST)
            assert await read_response(reader) == (200, BODY)
        writer.write(REQUEST + REQUEST)  # pipelined
        assert await read_response(reader) == (200, BODY)
        assert await read_response(reader) == (200, BODY)
        for split in (20, REQUEST.index(b"\r\n\r\n") + 6):  # in the head, then in the body
            writer.write(REQUEST[:split])
            await asyncio.sleep(TIMEOUT_S / 5)
            writer.write(REQUEST[split:])
            assert await read_response(reader) == (200, BODY)
        # Between requests no read deadline runs: idle well past both, the connection still serves.
        await asyncio.sleep(TIMEOUT_S * 3)
        writer.write(REQUEST)
        assert await read_response(reader) == (200, BODY)
    finally:
        writer.close()


async def test_a_slow_head_on_a_keep_alive_connection_is_cut(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    try:
        writer.write(REQUEST)
        assert await read_response(reader) == (200, BODY)
        await asyncio.sleep(TIMEOUT_S * 2)  # idle first: the next head's clock starts at its first byte
        loop = asyncio.get_running_loop()
        started = loop.time()
        writer.write(REQUEST[:10])
        answer = await closed_with(reader, TIMEOUT_S + 5)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"request head did not arrive" in answer
        assert TIMEOUT_S * 0.8 <= loop.time() - started < TIMEOUT_S + 2
    finally:
        writer.close()


async def test_a_head_dribbled_across_reads_keeps_its_first_deadline(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = b""
        for byte in range(30):  # a byte every tenth of the limit (the head needs ~90): no read restarts it
            writer.write(REQUEST[byte : byte + 1])
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(4096), TIMEOUT_S / 10)
            if answer:
                break
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert loop.time() - started < TIMEOUT_S * 2.5
    finally:
        writer.close()


async def test_a_body_that_stalls_after_its_head_is_cut(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    try:
        writer.write(REQUEST)
        assert await read_response(reader) == (200, BODY)
        head_end = REQUEST.index(b"\r\n\r\n") + 4
        writer.write(REQUEST[: head_end + 5])  # the head and a little of the body, in one read
        answer = await closed_with(reader, TIMEOUT_S + 5)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"request body did not arrive" in answer
    finally:
        writer.close()
