"""The Cache stage with the semantic cache on: a rephrased repeat is a semantic hit."""

from __future__ import annotations

import pytest

from alfred.cache.embedder import MiniLMEmbedder
from alfred.cache.exact import ExactCache, LruStore
from alfred.cache.index import VectorIndex
from alfred.cache.semantic import SemanticCache
from alfred.cache.settings import CacheSettings
from alfred.observability.metrics import GatewayMetrics
from alfred.pipeline import Pipeline
from alfred.pipeline.cache import SIMILARITY_HEADER, CacheStage
from alfred.pipeline.metering import MeteredHandler
from alfred.schema import ChatResponse
from tests.unit.cache.support import Upstream, chat, drain, finish, make_call
from tests.unit.observability.test_metrics import value


def build(minilm: MiniLMEmbedder) -> tuple[CacheStage, Pipeline, Upstream]:
    settings = CacheSettings(enabled=True, semantic={"enabled": True})
    exact = ExactCache(LruStore(100, 1 << 20))
    semantic = SemanticCache(minilm, exact, index=VectorIndex(384, 100))
    stage = CacheStage(settings, exact, semantic)
    upstream = Upstream()
    return stage, Pipeline([stage], MeteredHandler(upstream)), upstream


async def test_rephrased_question_is_a_semantic_hit(minilm: MiniLMEmbedder) -> None:
    stage, pipeline, upstream = build(minilm)
    first = make_call(chat("How do I undo the last git commit?"))
    await pipeline.run(first)
    await finish(first)
    second = make_call(chat("How can I undo my last commit in git?"), rid="r2")
    result = await pipeline.run(second)
    assert upstream.calls == 1
    assert second.cache_status == "semantic-hit"
    similarity = float(second.response_headers[SIMILARITY_HEADER])
    assert 0.95 <= similarity <= 1.0
    assert second.notes["cache_hit"]["similarity"] == round(similarity, 4)
    assert isinstance(result, ChatResponse)
    assert result.choices[0].message.content == "answer to: How do I undo the last git commit? (#1)"
    assert stage.stats.semantic_hits == 1 and sum(stage.stats.semantic_buckets.values()) == 1


async def test_near_miss_goes_upstream(minilm: MiniLMEmbedder) -> None:
    _, pipeline, upstream = build(minilm)
    first = make_call(chat("How do I encrypt a file with GPG?"))
    await pipeline.run(first)
    await finish(first)
    second = make_call(chat("How do I decrypt a file with GPG?"))
    await pipeline.run(second)
    assert second.cache_status == "miss" and upstream.calls == 2


async def test_semantic_hit_streams_when_asked(minilm: MiniLMEmbedder) -> None:
    _, pipeline, upstream = build(minilm)
    first = make_call(chat("Why is the sky blue?", stream=True))
    streamed = await drain(await pipeline.run(first))
    await finish(first)
    second = make_call(chat("Why does the sky look blue?", stream=True))
    replayed = await drain(await pipeline.run(second))
    assert second.cache_status == "semantic-hit" and upstream.calls == 1
    text = lambda chunks: "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)  # noqa: E731
    assert text(replayed) == text(streamed)


async def test_other_tenants_do_not_get_semantic_hits(minilm: MiniLMEmbedder) -> None:
    _, pipeline, upstream = build(minilm)
    first = make_call(chat("Who painted the Mona Lisa?"), team="a")
    await pipeline.run(first)
    await finish(first)
    second = make_call(chat("Who was the painter of the Mona Lisa?"), team="b")
    await pipeline.run(second)
    assert second.cache_status == "miss" and upstream.calls == 2


async def test_semantic_hits_are_counted_by_similarity(minilm: MiniLMEmbedder) -> None:
    settings = CacheSettings(enabled=True, semantic={"enabled": True})
    exact = ExactCache(LruStore(100, 1 << 20))
    metrics = GatewayMetrics(groups=["gpt-test"])
    stage = CacheStage(
        settings, exact, SemanticCache(minilm, exact, index=VectorIndex(384, 100)), metrics=metrics
    )
    pipeline = Pipeline([stage], MeteredHandler(Upstream()))
    first = make_call(chat("How do I undo the last git commit?"))
    await pipeline.run(first)
    await finish(first)
    second = make_call(chat("How can I undo my last commit in git?"), rid="r2")
    await pipeline.run(second)
    similarity = float(second.response_headers[SIMILARITY_HEADER])
    assert value(metrics, "alfred_cache_requests_total", model_group="gpt-test", result="semantic-hit") == 1
    assert value(metrics, "alfred_cache_semantic_similarity_count", model_group="gpt-test") == 1
    assert value(metrics, "alfred_cache_semantic_similarity_sum", model_group="gpt-test") == pytest.approx(
        similarity, abs=1e-4
    )
    below = value(metrics, "alfred_cache_semantic_similarity_bucket", model_group="gpt-test", le="0.9")
    assert below == 0  # a hit is at or above the 0.95 threshold
