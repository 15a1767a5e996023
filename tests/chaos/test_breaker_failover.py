"""Chaos through a real gateway: faulty deployments beside a healthy one, the breaker's whole cycle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, gateway, mock_upstream

CONFIG = """\
providers:
  healthy:  {kind: openai, base_url: "${HEALTHY}/v1",  api_key: k, timeouts: {first_byte: 0.5, stream_idle: 0.5, total: 5}}
  failing:  {kind: openai, base_url: "${FAILING}/v1",  api_key: k, timeouts: {first_byte: 0.5, stream_idle: 0.5, total: 5}}
  hanging:  {kind: openai, base_url: "${HANGING}/v1",  api_key: k, timeouts: {first_byte: 0.3, stream_idle: 0.5, total: 5}}
  dropping: {kind: openai, base_url: "${DROPPING}/v1", api_key: k, timeouts: {first_byte: 0.5, stream_idle: 0.5, total: 5}}
  slow:     {kind: openai, base_url: "${SLOW}/v1",     api_key: k, timeouts: {first_byte: 2, stream_idle: 2, total: 10}}
models:
  - name: chaos
    deployments:
      - {provider: healthy,  model: m, weight: 1}
      - {provider: failing,  model: m, weight: 5}
      - {provider: hanging,  model: m, weight: 5}
      - {provider: dropping, model: m, weight: 5}
      - {provider: slow,     model: m, weight: 5}
retries: 4
routing:
  breaker: {failure_threshold: 3, window_s: 30, cooldown_s: 1.5, probe_timeout_s: 3}
"""
CONCURRENCY = 16
THRESHOLD = 3
COOLDOWN_S = 1.5
NAMES = ("healthy", "failing", "hanging", "dropping", "slow")
FAULTS = {
    "failing": {"status": 500},
    "hanging": {"hang": True},
    "dropping": {"status": 503},  # before the first byte: retryable
    "slow": {"latency_ms": 150},
}


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    config = tmp_path_factory.mktemp("chaos") / "chaos.yaml"
    config.write_text(CONFIG)
    with ExitStack() as stack:
        urls = {name: stack.enter_context(mock_upstream()) for name in NAMES}
        env = {name.upper(): url for name, url in urls.items()}
        url = stack.enter_context(
            gateway(
                str(Path(config).relative_to(ROOT)) if Path(config).is_relative_to(ROOT) else str(config),
                env=env,
            )
        )
        yield url, urls


def _stats(url: str) -> dict:
    return httpx.get(f"{url}/mock/stats", timeout=5).json()


async def _one(client: httpx.AsyncClient, index: int) -> tuple[int, str]:
    stream = index % 3 == 0
    body = {"model": "chaos", "messages": [{"role": "user", "content": f"chaos {index}"}], "stream": stream}
    response = await client.post("/v1/chat/completions", json=body)
    text = response.text
    ok = response.status_code == 200 and (("[DONE]" in text) if stream else (f"chaos {index}" in text))
    return (200 if ok else response.status_code), response.headers.get("x-alfred-provider", "")


async def _run(url: str, count: int, concurrency: int = 16) -> list[tuple[int, str]]:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def guarded(i: int) -> tuple[int, str]:
            async with limit:
                return await _one(client, i)

        return await asyncio.gather(*(guarded(i) for i in range(count)))


def test_chaos_all_requests_succeed_and_breakers_cycle(chaos: tuple[str, dict[str, str]]) -> None:
    url, mocks = chaos
    for name, fault in FAULTS.items():
        httpx.post(f"{mocks[name]}/mock/faults", json=fault, timeout=5).raise_for_status()

    started = time.monotonic()
    results = asyncio.run(_run(url, 1000, concurrency=CONCURRENCY))
    elapsed = time.monotonic() - started
    failures = [r for r in results if r[0] != 200]
    assert not failures, failures[:5]

    # Each broken deployment was cut off by its breaker: at most the requests already in flight when
    # it opened, plus one half-open probe per cooldown. Without breakers each would get ~240.
    bound = CONCURRENCY + THRESHOLD + int(elapsed / COOLDOWN_S) + 1
    for name in ("failing", "hanging", "dropping"):
        assert _stats(mocks[name])["total"] <= bound, (name, bound, _stats(mocks[name]))
    served = sum(1 for status, provider in results if provider in ("healthy", "slow"))
    assert served == 1000

    # Clear the faults: after the cooldown one probe per deployment goes through and closes it.
    for name in FAULTS:
        httpx.delete(f"{mocks[name]}/mock/faults", timeout=5)
        httpx.delete(f"{mocks[name]}/mock/stats", timeout=5)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        asyncio.run(_run(url, 20, concurrency=4))
        if all(_stats(mocks[name])["total"] >= 3 for name in ("failing", "hanging", "dropping")):
            break
    else:
        pytest.fail("breakers did not close after the faults were cleared")
