"""The Cache stage in front of the real dispatcher and provider adapters, against the mock upstream.

The mock counts the requests it receives, so these tests see exactly which calls reached a
provider: a repeat (JSON or streamed, OpenAI or Anthropic wire format) must not.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest

from alfred.cache.exact import ExactCache, LruStore
from alfred.cache.settings import CacheSettings
from alfred.config import load_settings
from alfred.pipeline import Pipeline
from alfred.pipeline.cache import CacheStage
from alfred.pipeline.metering import MeteredHandler
from alfred.providers.transport import HttpTransport
from alfred.routing.build import build_routing
from alfred.routing.catalog import ModelCatalog
from alfred.schema import ChatResponse
from alfred.secrets import SecretResolver
from alfred.state import memory_backend
from tests.servers import ROOT
from tests.unit.cache.support import chat, drain, finish, make_call


@pytest.fixture
async def pipeline(mock_url: str) -> AsyncIterator[Pipeline]:
    env = {**os.environ, "ALFRED_MOCK_URL": mock_url, "ALFRED_MASTER_KEY": "sk-test"}
    settings = load_settings(ROOT / "examples" / "mock.yaml", environ=env)
    transport = HttpTransport()
    await transport.start()
    catalog = ModelCatalog.from_settings(settings, SecretResolver())
    dispatcher = build_routing(
        settings.model_copy(update={"retries": 0}), catalog, transport, memory_backend()
    ).dispatcher
    stage = CacheStage(CacheSettings(enabled=True), ExactCache(LruStore(100, 1 << 22)))
    try:
        yield Pipeline([stage], MeteredHandler(dispatcher))
    finally:
        await transport.close()


def upstream_requests(mock_url: str) -> int:
    stats = httpx.get(f"{mock_url}/mock/stats", timeout=5).json()
    return int(sum(stats["requests"].values()))


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-haiku"])
async def test_repeats_never_reach_the_provider(pipeline: Pipeline, mock_url: str, model: str) -> None:
    question = f"Name three primes ({model})"
    before = upstream_requests(mock_url)
    first = make_call(chat(question, model=model))
    answer = await pipeline.run(first)
    await finish(first)
    assert first.cache_status == "miss" and upstream_requests(mock_url) == before + 1
    assert isinstance(answer, ChatResponse)

    repeat = make_call(chat(question, model=model), rid="again")
    cached = await pipeline.run(repeat)
    assert repeat.cache_status == "hit" and upstream_requests(mock_url) == before + 1
    assert isinstance(cached, ChatResponse)
    assert cached.choices[0].message.content == answer.choices[0].message.content

    streamed = make_call(chat(question, model=model, stream=True), rid="streamed")
    chunks = await drain(await pipeline.run(streamed))
    assert streamed.cache_status == "hit" and upstream_requests(mock_url) == before + 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == answer.choices[0].message.content


async def test_a_streamed_answer_is_stored_once_complete(pipeline: Pipeline, mock_url: str) -> None:
    question = "Write one sentence about caches"
    before = upstream_requests(mock_url)
    first = make_call(chat(question, model="gpt-4o-mini", stream=True))
    chunks = await drain(await pipeline.run(first))
    await finish(first)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert first.cache_status == "miss" and streamed
    repeat = make_call(chat(question, model="gpt-4o-mini"))
    cached = await pipeline.run(repeat)
    assert repeat.cache_status == "hit" and upstream_requests(mock_url) == before + 1
    assert isinstance(cached, ChatResponse) and cached.choices[0].message.content == streamed


async def test_warm_requests_go_upstream_every_time(pipeline: Pipeline, mock_url: str) -> None:
    before = upstream_requests(mock_url)
    for rid in ("a", "b"):
        call = make_call(chat("Tell me a joke", model="gpt-4o-mini", temperature=1.0), rid=rid)
        await pipeline.run(call)
        await finish(call)
        assert call.cache_status == "bypass"
    assert upstream_requests(mock_url) == before + 2
