"""The Cache stage with the semantic cache on: a rephrased repeat is a semantic hit."""

from __future__ import annotations

from alfred.cache.embedder import MiniLMEmbedder
from alfred.cache.exact import ExactCache, LruStore
from alfred.cache.index import VectorIndex
from alfred.cache.semantic import SemanticCache
from alfred.cache.settings import CacheSettings
from alfred.pipeline import Pipeline
from alfred.pipeline.cache import SIMILARITY_HEADER, CacheStage
from alfred.pipeline.metering import MeteredHandler
from alfred.schema import ChatResponse
from tests.unit.cache.support import Upstream, chat, drain, finish, make_call


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
