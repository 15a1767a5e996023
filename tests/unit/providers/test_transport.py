"""The HTTP transport against a real loopback server: headers it sends, its two deadlines, its errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from alfred.errors import UpstreamError, UpstreamTimeoutError
from alfred.providers.base import UpstreamRequest
from alfred.providers.transport import HttpTransport, Timeouts


async def echo(request: web.Request) -> web.Response:
    headers = {k.lower(): v for k, v in request.headers.items()}
    return web.json_response({"headers": headers, "body": (await request.read()).decode()})


async def slow_head(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("s", "5")))
    return web.json_response({})


async def slow_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "application/json"})
    await response.prepare(request)
    await response.write(b'{"partial":')
    await asyncio.sleep(float(request.query.get("s", "5")))
    await response.write(b"true}")
    return response


async def set_cookie(request: web.Request) -> web.Response:
    response = web.json_response({})
    response.set_cookie("session", "tenant-a-affinity")  # as Cloudflare's __cf_bm in front of a provider
    return response


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/set-cookie", set_cookie)
    app.router.add_post("/slow-head", slow_head)
    app.router.add_post("/slow-body", slow_body)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def transport() -> AsyncIterator[HttpTransport]:
    transport = HttpTransport()
    await transport.start()
    try:
        yield transport
    finally:
        await transport.close()


def post(url: str, body: bytes = b"{}") -> UpstreamRequest:
    return UpstreamRequest(
        "POST", url, {"content-type": "application/json", "authorization": "Bearer k"}, body
    )


async def test_sends_the_adapters_headers_and_body_and_no_user_agent(
    upstream: str, transport: HttpTransport
) -> None:
    for _ in range(2):  # the second request reuses the remembered URL and connect limit
        response = await transport.send(post(f"{upstream}/echo", b'{"x":1}'), Timeouts(), "p")
        assert response.status == 200
        seen = json.loads(response.body)
        assert seen["body"] == '{"x":1}'
        assert seen["headers"]["authorization"] == "Bearer k"
        assert seen["headers"]["content-type"] == "application/json"
        assert "user-agent" not in seen["headers"]  # aiohttp would name itself and Python
        assert seen["headers"]["accept-encoding"]  # aiohttp's other defaults stay


async def test_an_upstreams_cookies_are_never_sent_back(upstream: str, transport: HttpTransport) -> None:
    # One client for every caller: a cookie kept from one caller's answer would ride on the next
    # caller's request (and cost a cookie-jar walk on every request).
    named = upstream.replace("127.0.0.1", "localhost")  # a jar keeps no cookies from bare IP addresses
    answer = await transport.send(post(f"{named}/set-cookie"), Timeouts(), "up")
    assert "set-cookie" in answer.headers
    echoed = json.loads((await transport.send(post(f"{named}/echo"), Timeouts(), "up")).body)
    assert "cookie" not in echoed["headers"]


async def test_url_is_sent_as_built(upstream: str, transport: HttpTransport) -> None:
    # A signed URL's percent-escapes must reach the upstream unchanged (not re-quoted).
    response = await transport.send(post(f"{upstream}/echo?sig=a%2Fb"), Timeouts(), "p")
    assert response.status == 200


async def test_slow_headers_hit_the_first_byte_limit(upstream: str, transport: HttpTransport) -> None:
    timeouts = Timeouts(first_byte=0.2, total=5)
    with pytest.raises(UpstreamTimeoutError, match=r"no response within 0\.2s"):
        await transport.send(post(f"{upstream}/slow-head?s=3"), timeouts, "p")


async def test_slow_body_hits_the_total_limit_measured_from_the_start(
    upstream: str, transport: HttpTransport
) -> None:
    # Headers arrive at once, so the first-byte limit (1 s) is met; the body then stalls past total.
    timeouts = Timeouts(first_byte=1.0, total=0.5)
    with pytest.raises(UpstreamTimeoutError, match=r"no complete answer within 0\.5s"):
        await transport.send(post(f"{upstream}/slow-body?s=3"), timeouts, "p")
    timeouts = Timeouts(first_byte=0.3, total=0.8)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(UpstreamTimeoutError, match=r"no complete answer within 0\.8s"):
        await transport.send(post(f"{upstream}/slow-body?s=3"), timeouts, "p")
    assert loop.time() - started >= 0.75  # the body may take past first_byte, up to total


async def test_total_shorter_than_first_byte_bounds_the_head_too(
    upstream: str, transport: HttpTransport
) -> None:
    timeouts = Timeouts(first_byte=5.0, total=0.2)
    with pytest.raises(UpstreamTimeoutError, match=r"no complete answer within 0\.2s"):
        await transport.send(post(f"{upstream}/slow-head?s=3"), timeouts, "p")


async def test_a_body_within_the_limits_is_read_whole(upstream: str, transport: HttpTransport) -> None:
    timeouts = Timeouts(first_byte=0.3, total=5)
    response = await transport.send(post(f"{upstream}/slow-body?s=0.5"), timeouts, "p")
    assert response.body == b'{"partial":true}'


async def test_refused_connection_is_an_upstream_error(transport: HttpTransport) -> None:
    with pytest.raises(UpstreamError) as info:
        await transport.send(post("http://127.0.0.1:9/echo"), Timeouts(connect=1), "p")
    assert info.value.code == "upstream_connect_error"


async def test_stream_headers_within_first_byte(upstream: str, transport: HttpTransport) -> None:
    with pytest.raises(UpstreamTimeoutError, match=r"no response within 0\.2s"):
        await transport.open_stream(post(f"{upstream}/slow-head?s=3"), Timeouts(first_byte=0.2), "p")
    stream = await transport.open_stream(post(f"{upstream}/echo"), Timeouts(), "p")
    assert stream.status == 200 and b"content-type" in await stream.body()
