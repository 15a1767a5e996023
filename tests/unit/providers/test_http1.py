"""Alfred's HTTP/1.1 client against real sockets: framing, keep-alive, stale connections, limits, TLS.

Most upstreams here are raw asyncio servers, so each test decides the exact bytes on the wire.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import gzip
import ipaddress
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from alfred.providers.http1 import Http1Client, Http1ConnectError, Http1Error
from alfred.providers.http1.pool import ConnectionPool, Origin

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Upstream:
    """A raw HTTP server: counts connections, records each request's head and body."""

    def __init__(
        self, answer: Callable[[int, str, bytes], bytes | None], *, close_after: bool = False
    ) -> None:
        self._answer = answer  # (request number, head, body) -> bytes to write, or None to hang up
        self._close_after = close_after  # hang up after each answer
        self.connections = 0
        self.requests: list[tuple[str, bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                reply = self._answer(len(self.requests), head, body)
                if reply is None:
                    return
                writer.write(reply)
                await writer.drain()
                if self._close_after:
                    return
        finally:
            writer.close()


def ok(body: bytes = b"{}", extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


@asynccontextmanager
async def serving(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def client(**pool: object) -> Http1Client:
    settings: dict[str, object] = {"limit": 100, "limit_per_host": 100, **pool}
    return Http1Client(ConnectionPool(**settings))  # type: ignore[arg-type]


async def get(
    http: Http1Client, url: str, method: str = "GET", body: bytes | None = None, **headers: str
) -> tuple[int, bytes]:
    response = await http.request(method, url, headers, body, connect_timeout=2)
    data = await response.read()
    response.release()
    return response.status, data


async def test_requests_reuse_one_connection_and_carry_the_adapters_head_and_body() -> None:
    upstream = Upstream(lambda n, head, body: ok(b'{"n":%d}' % n))
    http = client()
    async with serving(upstream.handle) as port:
        for n in (1, 2, 3):
            status, body = await get(
                http,
                f"http://127.0.0.1:{port}/v1/x?sig=a%2Fb",
                "POST",
                b'{"a":1}',
                Authorization="Bearer k",
                **{"Content-Type": "application/json"},
            )
            assert (status, body) == (200, b'{"n":%d}' % n)
    await http.close()
    assert upstream.connections == 1
    head, body = upstream.requests[0]
    lines = head.split("\r\n")
    assert lines[0] == "POST /v1/x?sig=a%2Fb HTTP/1.1"  # the URL as built: escapes kept
    assert f"Host: 127.0.0.1:{port}" in lines
    assert "Authorization: Bearer k" in lines and "content-length: 7" in lines
    assert "accept-encoding: gzip, deflate" in lines
    assert not any(line.lower().startswith("user-agent") for line in lines)
    assert body == b'{"a":1}'


async def test_a_post_without_body_says_so_and_a_get_sends_no_length() -> None:
    upstream = Upstream(lambda n, head, body: ok())
    http = client()
    async with serving(upstream.handle) as port:
        await get(http, f"http://127.0.0.1:{port}/a", "POST")
        await get(http, f"http://127.0.0.1:{port}/b")
    await http.close()
    assert "content-length: 0" in upstream.requests[0][0]
    assert "content-length" not in upstream.requests[1][0].lower()


async def test_chunked_and_gzip_bodies_are_decoded() -> None:
    payload = b'{"text":"' + b"hello " * 2000 + b'"}'
    packed = gzip.compress(payload)
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part)
        for part in (packed[: len(packed) // 2], packed[len(packed) // 2 :])
    )
    reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
        + chunks
        + b"0\r\n\r\n"
    )
    deflated = zlib.compress(payload)
    upstream = Upstream(
        lambda n, head, body: reply if n == 1 else ok(deflated, "Content-Encoding: deflate\r\n")
    )
    http = client()
    async with serving(upstream.handle) as port:
        assert await get(http, f"http://127.0.0.1:{port}/") == (200, payload)
        assert await get(http, f"http://127.0.0.1:{port}/") == (200, payload)
    await http.close()
    assert upstream.connections == 1


async def test_a_body_that_ends_with_the_connection_is_read_whole_and_the_connection_dropped() -> None:
    upstream = Upstream(
        lambda n, head, body: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", close_after=True
    )
    pool = ConnectionPool(limit=10, limit_per_host=10)
    http = Http1Client(pool)
    async with serving(upstream.handle) as port:
        assert await get(http, f"http://127.0.0.1:{port}/") == (200, b"until the end")
        assert pool.idle_count(Origin("http", "127.0.0.1", port)) == 0
    await http.close()


async def test_a_body_cut_short_is_an_error_not_a_short_answer() -> None:
    upstream = Upstream(
        lambda n, head, body: b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial"', close_after=True
    )
    http = client()
    async with serving(upstream.handle) as port:
        response = await http.request("GET", f"http://127.0.0.1:{port}/", {}, None, connect_timeout=2)
        with pytest.raises(Http1Error, match="closed the connection before the response completed"):
            await asyncio.wait_for(response.read(), 5)
    await http.close()


async def test_malformed_answers_are_errors() -> None:
    upstream = Upstream(lambda n, head, body: b"SMTP ready\r\n\r\n")
    http = client()
    async with serving(upstream.handle) as port:
        with pytest.raises(Http1Error, match="malformed HTTP response"):
            await http.request("GET", f"http://127.0.0.1:{port}/", {}, None, connect_timeout=2)
    await http.close()


async def test_interim_answers_are_skipped() -> None:
    upstream = Upstream(lambda n, head, body: b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"real"))
    http = client()
    async with serving(upstream.handle) as port:
        assert await get(http, f"http://127.0.0.1:{port}/", "POST", b"x") == (200, b"real")
        assert await get(http, f"http://127.0.0.1:{port}/", "POST", b"x") == (200, b"real")
    await http.close()


async def test_head_answers_have_no_body_whatever_their_length_says() -> None:
    upstream = Upstream(
        lambda n, head, body: b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n" if n == 1 else ok(b"next")
    )
    http = client()
    async with serving(upstream.handle) as port:
        assert await get(http, f"http://127.0.0.1:{port}/", "HEAD") == (200, b"")
        assert await get(http, f"http://127.0.0.1:{port}/") == (200, b"next")
    await http.close()


async def test_a_connection_the_upstream_closed_while_idle_is_not_used() -> None:
    # Keep-alive on the wire, but the server hangs up right after answering (as an idle timeout would).
    upstream = Upstream(lambda n, head, body: ok())
    http = client()

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ok())
        await writer.drain()
        writer.close()

    async with serving(answer_once) as port:
        for _ in range(3):
            assert await get(http, f"http://127.0.0.1:{port}/", "POST", b"{}") == (200, b"{}")
            await asyncio.sleep(0.05)  # the FIN arrives; the pool sees the connection lost
    await http.close()
    assert upstream.connections == 3


async def test_an_idempotent_request_on_a_stale_connection_is_retried_once_a_post_is_not() -> None:
    # The second request on each connection meets a server that hangs up without answering: the race
    # between an upstream's idle timeout and the next request.
    upstream = Upstream(lambda n, head, body: ok(b"%d" % n) if n % 2 else None)
    http = client()
    async with serving(upstream.handle) as port:
        url = f"http://127.0.0.1:{port}/"
        assert await get(http, url) == (200, b"1")
        assert await get(http, url) == (200, b"3")  # request 2 met the hang-up; retried as 3
        with pytest.raises(Http1Error):
            await get(http, url, "POST", b"{}")  # request 4 hung up: a POST may have been acted on
    await http.close()
    assert upstream.connections == 2


async def test_redirects_are_followed_as_aiohttp_did() -> None:
    def answer(n: int, head: str, body: bytes) -> bytes:
        path = head.split(" ")[1]
        if path == "/moved":
            return b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /target\r\nContent-Length: 0\r\n\r\n"
        if path == "/see-other":
            return b"HTTP/1.1 303 See Other\r\nLocation: /target\r\nContent-Length: 3\r\n\r\nabc"
        if path == "/loop":
            return b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n"
        return ok(head.split(" ")[0].encode() + b" " + body)

    upstream = Upstream(answer)
    http = client()
    async with serving(upstream.handle) as port:
        base = f"http://127.0.0.1:{port}"
        assert await get(http, f"{base}/moved", "POST", b"keep") == (200, b"POST keep")
        assert await get(http, f"{base}/see-other", "POST", b"drop") == (200, b"GET ")
        with pytest.raises(Http1Error, match="redirects"):
            await get(http, f"{base}/loop")


async def test_credentials_do_not_follow_a_redirect_to_another_origin() -> None:
    seen: list[str] = []

    async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await reader.readuntil(b"\r\n\r\n")).decode())
        writer.write(ok(b"there"))
        await writer.drain()
        writer.close()

    http = client()
    async with serving(target) as other:
        upstream = Upstream(
            lambda n, head, body: (
                f"HTTP/1.1 302 Found\r\nLocation: http://localhost:{other}/x\r\nContent-Length: 0\r\n\r\n".encode()
            )
        )
        async with serving(upstream.handle) as port:
            assert await get(http, f"http://127.0.0.1:{port}/", Authorization="Bearer secret") == (
                200,
                b"there",
            )
    await http.close()
    assert "authorization" not in seen[0].lower()
    assert f"Host: localhost:{other}" in seen[0]


async def test_a_line_break_in_a_header_is_refused_before_anything_is_sent() -> None:
    upstream = Upstream(lambda n, head, body: ok())
    http = client()
    async with serving(upstream.handle) as port:
        with pytest.raises(Http1Error, match="line break"):
            await get(http, f"http://127.0.0.1:{port}/", **{"X-Tenant": "a\r\nX-Admin: yes"})
        with pytest.raises(Http1Error, match="line break"):
            await get(http, f"http://127.0.0.1:{port}/", **{"X-Bad\nName": "v"})
    await http.close()
    assert upstream.requests == []


async def test_refused_and_bad_urls() -> None:
    http = client()
    with pytest.raises(Http1ConnectError) as info:
        await get(http, "http://127.0.0.1:9/")
    assert isinstance(info.value.os_error, OSError)
    with pytest.raises(Http1Error, match="not an http"):
        await get(http, "ftp://example.com/")
    await http.close()


async def test_the_per_host_limit_makes_callers_wait_and_a_cancelled_waiter_leaves_no_trace() -> None:
    release = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            await release.wait()
            writer.write(ok())
            await writer.drain()
        writer.close()

    pool = ConnectionPool(limit=10, limit_per_host=1)
    http = Http1Client(pool)
    async with serving(slow) as port:
        url = f"http://127.0.0.1:{port}/"
        first = asyncio.create_task(get(http, url))
        second = asyncio.create_task(get(http, url))
        cancelled = asyncio.create_task(get(http, url))
        await asyncio.sleep(0.1)
        assert not first.done() and not second.done()
        cancelled.cancel()
        release.set()
        assert await first == (200, b"{}")
        assert await second == (200, b"{}")
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await get(http, url) == (200, b"{}")  # the cancelled waiter took no slot with it
        assert pool.idle_count(Origin("http", "127.0.0.1", port)) == 1
    await http.close()


async def test_a_cancelled_read_drops_the_connection() -> None:
    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
        await writer.drain()
        await asyncio.sleep(5)
        writer.close()

    pool = ConnectionPool(limit=10, limit_per_host=10)
    http = Http1Client(pool)
    async with serving(stalls) as port:
        response = await http.request("GET", f"http://127.0.0.1:{port}/", {}, None, connect_timeout=2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(response.read(), 0.2)
        response.release()
        assert pool.idle_count(Origin("http", "127.0.0.1", port)) == 0
    await http.close()


async def test_a_reader_that_falls_behind_stops_the_socket_being_read() -> None:
    block = b"x" * 65536
    blocks = 128  # 8 MiB, far more than the socket buffers hold

    async def floods(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(block) * blocks))
        for _ in range(blocks):
            writer.write(block)
            await writer.drain()
        writer.close()

    http = client()
    async with serving(floods) as port:
        response = await http.request("GET", f"http://127.0.0.1:{port}/", {}, None, connect_timeout=2)
        await asyncio.sleep(0.3)  # the upstream writes as fast as it can; nobody reads
        connection = response._connection
        assert connection is not None
        assert connection._buffered < 1024 * 1024  # paused near the high-water mark, not 8 MiB
        total = 0
        while data := await response.read_some():
            total += len(data)
        assert total == len(block) * blocks
        response.release()
    await http.close()


async def test_a_response_dropped_unread_gives_its_slot_back() -> None:
    # aiohttp freed a forgotten response's connection when it was collected; so must this client,
    # or each stream nobody iterated would shrink the per-host limit for good.
    upstream = Upstream(lambda n, head, body: ok(b"%d" % n))
    pool = ConnectionPool(limit=10, limit_per_host=1)
    http = Http1Client(pool)
    async with serving(upstream.handle) as port:
        url = f"http://127.0.0.1:{port}/"
        forgotten = await http.request("GET", url, {}, None, connect_timeout=2)
        del forgotten
        gc.collect()
        assert await asyncio.wait_for(get(http, url), 5) == (200, b"2")
    await http.close()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_https_with_a_trusted_certificate_and_refusal_of_an_untrusted_one(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    upstream = Upstream(lambda n, head, body: ok(b"secure"))
    trusting = ssl.create_default_context(cafile=str(cert))
    async with serving(upstream.handle, server_context) as port:
        http = Http1Client(ConnectionPool(limit=10, limit_per_host=10, ssl_context=trusting))
        assert await get(http, f"https://localhost:{port}/") == (200, b"secure")
        assert await get(http, f"https://localhost:{port}/") == (200, b"secure")
        await http.close()
        assert upstream.connections == 1
        assert f"Host: localhost:{port}" in upstream.requests[0][0]
        default = client()  # the system's trust store does not know this certificate
        with pytest.raises(Http1ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await get(default, f"https://localhost:{port}/")
        await default.close()


async def test_the_default_port_is_left_out_of_the_host_header() -> None:
    from alfred.providers.http1.client import _parse

    assert _parse("https://api.openai.com/v1/chat/completions").host_header == "api.openai.com"
    assert _parse("http://[::1]:8080/x?y=1").host_header == "[::1]:8080"
    assert _parse("http://[::1]:8080/x?y=1").path == "/x?y=1"
    assert _parse("http://h").path == "/"


def test_under_uvloop_as_the_server_runs_it() -> None:
    # uvloop's transports are not asyncio.Transport subclasses; the gateway runs on uvloop.
    import uvloop

    async def exchange() -> tuple[int, list[tuple[int, bytes]]]:
        upstream = Upstream(lambda n, head, body: ok(b"uv %d" % n))
        http = client()
        async with serving(upstream.handle) as port:
            answers = [await get(http, f"http://127.0.0.1:{port}/", "POST", b"{}") for _ in range(3)]
        await http.close()
        return upstream.connections, answers

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        connections, answers = runner.run(exchange())
    assert answers == [(200, b"uv 1"), (200, b"uv 2"), (200, b"uv 3")]
    assert connections == 1
