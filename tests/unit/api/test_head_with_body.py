"""A response's head leaves with its body in one write, and is never held past the loop's turn.

Driven through the guarded protocol itself with a transport that records every write, so the test
sees exactly what uvicorn would hand the socket; and over a real socket for a stream whose body comes
later, whose head must arrive first."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from alfred.api.http import send_stream
from alfred.api.http_protocol import ConnectionLimits, GuardedHttpToolsProtocol, HeadWithBody, guarded_http

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class RecordingTransport(asyncio.Transport):
    """What the protocol wrote, one entry per ``write`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            raise AssertionError("write after close")
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def request(body: bytes = b"{}", method: bytes = b"POST") -> bytes:
    return b"%s /x HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n\r\n%s" % (method, len(body), body)


def json_app(body: bytes) -> App:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def connect(app: App, data: bytes) -> tuple[GuardedHttpToolsProtocol, ServerState, RecordingTransport]:
    """A guarded protocol serving ``app`` on a recording transport, ``data`` received."""
    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    config.load()
    state = ServerState()
    protocol = GuardedHttpToolsProtocol(config, state, {}, limits=ConnectionLimits())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(data)
    return protocol, state, transport


async def serve_one(app: App, data: bytes) -> RecordingTransport:
    protocol, state, transport = connect(app, data)
    await asyncio.gather(*state.tasks)
    await asyncio.sleep(0)  # a head flushed on the next turn would land here
    protocol.connection_lost(None)
    return transport


async def test_a_json_answer_leaves_in_one_write() -> None:
    transport = await serve_one(json_app(b'{"ok":true}'), request())
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 11" in head
    assert body == b'{"ok":true}'


async def test_a_large_body_follows_its_head_in_order() -> None:
    large = b"x" * (256 * 1024)
    transport = await serve_one(json_app(large), request())
    assert len(transport.writes) == 2
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK") and transport.writes[0].endswith(b"\r\n\r\n")
    assert transport.writes[1] == large


async def test_keep_alive_requests_each_get_their_own_single_write() -> None:
    transport = await serve_one(json_app(b"{}"), request() + request())
    assert len(transport.writes) == 2
    assert all(w.startswith(b"HTTP/1.1 200 OK") and w.endswith(b"\r\n\r\n{}") for w in transport.writes)


async def test_a_head_request_gets_its_head_on_the_next_turn() -> None:
    # uvicorn writes no body for HEAD: the head must not wait for one.
    transport = await serve_one(json_app(b'{"ok":true}'), request(b"", method=b"HEAD"))
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK") and transport.writes[0].endswith(b"\r\n\r\n")


async def test_the_held_head_goes_out_on_the_next_turn_and_before_close() -> None:
    loop = asyncio.get_running_loop()
    under = RecordingTransport()
    view = HeadWithBody(under, loop)
    view.write(b"HEAD\r\n\r\n")
    assert under.writes == []
    await asyncio.sleep(0)
    assert under.writes == [b"HEAD\r\n\r\n"]
    view.write(b"later")
    assert under.writes == [b"HEAD\r\n\r\n", b"later"]

    closing = HeadWithBody(under := RecordingTransport(), loop)
    closing.write(b"HEAD\r\n\r\n")
    closing.close()
    assert under.writes == [b"HEAD\r\n\r\n"] and under.closed
    await asyncio.sleep(0)  # the cancelled flush does not write after the close
    assert under.writes == [b"HEAD\r\n\r\n"]


async def test_a_head_for_a_closed_connection_is_dropped() -> None:
    under = RecordingTransport()
    view = HeadWithBody(under, asyncio.get_running_loop())
    view.write(b"HEAD\r\n\r\n")
    under.close()
    await asyncio.sleep(0)
    assert under.writes == []


@pytest.fixture
async def streaming_server() -> AsyncIterator[tuple[int, asyncio.Event]]:
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await release.wait()
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": False})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=guarded_http(ConnectionLimits()), lifespan="off", log_level="warning")
    instance = uvicorn.Server(config)
    task = asyncio.ensure_future(instance.serve(sockets=[sock]))
    while not instance.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1], release
    finally:
        release.set()
        instance.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        sock.close()


async def test_a_stream_head_arrives_before_its_first_chunk(
    streaming_server: tuple[int, asyncio.Event],
) -> None:
    port, release = streaming_server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200 OK") and b"transfer-encoding: chunked" in head
        assert not release.is_set()  # the body is still held by the app
        release.set()
        chunk = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 10)
        assert b"data: 1\n\n" in chunk
    finally:
        writer.close()


async def test_a_stream_sends_its_head_and_first_frame_in_one_write() -> None:
    later = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"  # ready at once, as a primed upstream stream's first chunk is
        await later.wait()
        yield b"data: 2\n\n"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        assert await send_stream(send, receive, 200, [(b"content-type", b"text/event-stream")], frames())

    protocol, state, transport = connect(app, request())
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"transfer-encoding: chunked" in head
    assert body == b"9\r\ndata: 1\n\n\r\n"
    later.set()
    await asyncio.gather(*state.tasks)
    assert b"".join(transport.writes[1:]) == b"9\r\ndata: 2\n\n\r\n0\r\n\r\n"
    protocol.connection_lost(None)


async def test_an_empty_stream_is_an_empty_chunked_body() -> None:
    async def frames() -> AsyncIterator[bytes]:
        return
        yield b""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        assert await send_stream(send, receive, 200, [(b"content-type", b"text/event-stream")], frames())

    transport = await serve_one(app, request())
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b"\r\n\r\n0\r\n\r\n")
