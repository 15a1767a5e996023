"""The semantic cache end to end with the real MiniLM model: hits, guard, scopes, expiry, sharing."""

from __future__ import annotations

import pytest

from alfred.cache.embedder import MiniLMEmbedder
from alfred.cache.entry import CachedAnswer
from alfred.cache.exact import ExactCache, LruStore
from alfred.cache.index import VectorIndex
from alfred.cache.keys import SemanticQuery
from alfred.cache.log import MemorySemanticLog
from alfred.cache.semantic import SemanticCache
from alfred.schema import ChatResponse, Choice, ResponseMessage


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def answer(text: str, now: float, ttl_s: float = 600) -> CachedAnswer:
    response = ChatResponse(
        id="x", model="m", created=0, choices=[Choice(index=0, message=ResponseMessage(content=text))]
    )
    return CachedAnswer(response=response, stored_at=now, ttl_s=ttl_s)


def make(
    minilm: MiniLMEmbedder, clock: Clock, log: MemorySemanticLog | None = None, **kw: object
) -> SemanticCache:
    exact = ExactCache(LruStore(1000, 1 << 24, clock), clock=clock)
    return SemanticCache(
        minilm,
        exact,
        index=VectorIndex(384, 1000),
        log_store=log,
        sync_interval_s=0,
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )


async def remember(cache: SemanticCache, clock: Clock, question: str, reply: str, scope: str = "s") -> None:
    hit, probe = await cache.lookup(SemanticQuery(scope, question), 0.95)
    assert hit is None
    assert await cache.store(probe, answer(reply, clock.now))


async def test_a_paraphrase_hits_with_its_similarity(minilm: MiniLMEmbedder) -> None:
    clock = Clock()
    cache = make(minilm, clock)
    await remember(cache, clock, "How do I reverse a list in Python?", "Use list.reverse() or reversed().")
    hit, _ = await cache.lookup(SemanticQuery("s", "In Python, how can I reverse a list?"), 0.95)
    assert hit is not None
    assert hit.answer.response.choices[0].message.content == "Use list.reverse() or reversed()."
    assert 0.95 <= hit.similarity <= 1.0
    assert hit.question == "How do I reverse a list in Python?"


async def test_the_opposite_question_misses_despite_its_cosine(minilm: MiniLMEmbedder) -> None:
    clock = Clock()
    cache = make(minilm, clock)
    await remember(cache, clock, "How do I enable dark mode in VS Code?", "Settings → Theme → Dark.")
    a, b = minilm.embed_sync(
        ["How do I enable dark mode in VS Code?", "How do I disable dark mode in VS Code?"]
    )
    assert float(a @ b) >= 0.95  # cosine alone would serve it
    hit, _ = await cache.lookup(SemanticQuery("s", "How do I disable dark mode in VS Code?"), 0.95)
    assert hit is None
    assert cache.guard_stats.rejected == {"opposite": 1}


async def test_the_best_acceptable_candidate_answers(minilm: MiniLMEmbedder) -> None:
    clock = Clock()
    cache = make(minilm, clock)
    await remember(cache, clock, "How do I disable dark mode in VS Code?", "turn it off")
    await remember(cache, clock, "How can I turn on dark mode in VS Code?", "turn it on")
    hit, _ = await cache.lookup(SemanticQuery("s", "How do I enable dark mode in VS Code?"), 0.95)
    assert hit is not None and hit.answer.response.choices[0].message.content == "turn it on"


async def test_scopes_never_mix(minilm: MiniLMEmbedder) -> None:
    clock = Clock()
    cache = make(minilm, clock)
    await remember(cache, clock, "What is the capital of France?", "Paris", scope="tenant-a")
    hit, _ = await cache.lookup(SemanticQuery("tenant-b", "What is the capital of France?"), 0.95)
    assert hit is None


async def test_below_the_threshold_misses(minilm: MiniLMEmbedder) -> None:
    clock = Clock()
    cache = make(minilm, clock)
    await remember(cache, clock, "What is a mutex?", "A lock.")
    hit, _ = await cache.lookup(SemanticQuery("s", "What is a mutex in concurrent programming?"), 0.95)
    assert hit is None  # cosine 0.76: a different enough question
    hit, _ = await cache.lookup(SemanticQuery("s", "What is a mutex in concurrent programming?"), 0.7)
    assert hit is not None


async def test_expired_entries_stop_answering(minilm: MiniLMEmbedder) -> None:
    clock = Clock()
    cache = make(minilm, clock)
    hit, probe = await cache.lookup(SemanticQuery("s", "Why is the sky blue?"), 0.95)
    await cache.store(probe, answer("Rayleigh scattering", clock.now, ttl_s=60))
    clock.now += 61
    hit, _ = await cache.lookup(SemanticQuery("s", "Why does the sky look blue?"), 0.95)
    assert hit is None and len(cache.index) == 0


async def test_an_evicted_answer_drops_its_vector(minilm: MiniLMEmbedder) -> None:
    clock = Clock()
    exact = ExactCache(LruStore(1, 1 << 24, clock), clock=clock)  # room for one answer only
    cache = SemanticCache(minilm, exact, index=VectorIndex(384, 100), clock=clock)
    await remember(cache, clock, "Why is the sky blue?", "scattering")
    await remember(cache, clock, "Who painted the Mona Lisa?", "Leonardo")
    hit, _ = await cache.lookup(SemanticQuery("s", "Why does the sky look blue?"), 0.95)
    assert hit is None and len(cache.index) == 1


async def test_processes_share_entries_through_the_log(minilm: MiniLMEmbedder) -> None:
    clock = Clock()
    log = MemorySemanticLog()
    answers = ExactCache(LruStore(1000, 1 << 24, clock), clock=clock)  # stands in for shared L2
    writer = SemanticCache(
        minilm, answers, index=VectorIndex(384, 100), log_store=log, sync_interval_s=0, clock=clock
    )
    await remember(writer, clock, "Who painted the Mona Lisa?", "Leonardo da Vinci")
    reader = SemanticCache(
        minilm, answers, index=VectorIndex(384, 100), log_store=log, sync_interval_s=0, clock=clock
    )
    await reader.start()
    assert len(reader.index) == 1
    hit, _ = await reader.lookup(SemanticQuery("s", "Who was the painter of the Mona Lisa?"), 0.95)
    assert hit is not None and hit.answer.response.choices[0].message.content == "Leonardo da Vinci"
    # Entries stored later reach the reader on its next lookup.
    await remember(writer, clock, "Why is the sky blue?", "Rayleigh scattering")
    hit, _ = await reader.lookup(SemanticQuery("s", "Why does the sky look blue?"), 0.95)
    assert hit is not None


async def test_memory_log_trims_and_keeps_cursors_valid() -> None:
    log = MemorySemanticLog(max_entries=3)
    for i in range(5):
        await log.append(str(i).encode())
    records, cursor = await log.read("0", 10)
    assert records == [b"2", b"3", b"4"] and cursor == "5"
    await log.append(b"5")
    records, cursor = await log.read(cursor, 10)
    assert records == [b"5"] and cursor == "6"
    assert await log.read(cursor, 10) == ([], "6")


def test_index_and_embedder_must_agree(minilm: MiniLMEmbedder) -> None:
    with pytest.raises(ValueError):
        SemanticCache(minilm, ExactCache(LruStore(1, 1024)), index=VectorIndex(8, 10))
