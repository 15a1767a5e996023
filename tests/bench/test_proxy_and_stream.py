"""The bare proxy forwards bodies and streams without buffering; the stream client times what arrives."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from bench.servers import ROOT, free_port
from bench.stream_client import run

from bench import bodies

GAP_S = 0.03


async def _upstream_app() -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            return web.json_response(
                {"echo": body["messages"][0]["content"], "auth": request.headers.get("Authorization")}
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(5):
            await asyncio.sleep(GAP_S)
            await resp.write(f'data: {{"i": {i}}}\n\n'.encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/health", health)
    return app


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    runner = web.AppRunner(await _upstream_app())
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


# The bench's bare proxy (aiohttp), and the stack comparison's variant on Alfred's own HTTP/1.1 client.
PROXIES = {
    "bare_proxy": ["-m", "bench.bare_proxy"],
    "http1": ["-m", "bench.bare_variants", "--server", "uvicorn", "--client", "http1"],
}


@pytest.fixture(params=sorted(PROXIES))
async def bare(upstream: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, *PROXIES[request.param], "--port", str(port), "--upstream", upstream],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Polled without blocking: the upstream answers the forwarded health check on this very loop.
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as client:
            while True:
                assert proc.poll() is None, "the bare proxy exited"
                try:
                    if (await client.get(f"{url}/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "the bare proxy did not start in 30 s"
                    await asyncio.sleep(0.05)
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def test_bare_proxy_forwards_body_and_headers(bare: str) -> None:
    async with httpx.AsyncClient() as client:
        resp = await client.post(
            f"{bare}/v1/chat/completions", content=bodies.SMALL, headers={"Authorization": "Bearer k"}
        )
    assert resp.status_code == 200
    assert resp.json() == {"echo": "Say hello in one short sentence.", "auth": "Bearer k"}


async def test_stream_through_the_bare_proxy_keeps_the_upstreams_pacing(bare: str) -> None:
    body = b'{"stream": true, "messages": [{"content": "x"}]}'
    stats = await run(f"{bare}/v1/chat/completions", body, {"Content-Type": "application/json"}, 0.5, 3)
    summary = stats.summary()
    assert summary["streams"] == 3 and summary["errors"] == 0
    assert summary["chunks_p50"] == 5  # [DONE] is not a chunk
    # Buffered, the five chunks would land together (gaps near 0 and a first byte after ~150 ms).
    assert summary["gap_p50_ms"] >= GAP_S * 1000 * 0.6
    assert summary["ttfb_p50_ms"] < GAP_S * 1000 * 3


async def test_stream_client_counts_a_refused_stream_as_an_error(upstream: str) -> None:
    stats = await run(f"{upstream}/nowhere", b"{}", {}, 0.2, 2)
    assert stats.summary()["streams"] == 0
    assert stats.errors == 2
