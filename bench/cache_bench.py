"""Measures the caches: exact-hit latency, semantic lookup latency at 10k/100k entries, quality per
threshold on the pair sets, precision on a replay of 1,000 paraphrased prompts, and Redis sharing costs.

    .venv/bin/python bench/cache_bench.py [--quick] [--redis redis://127.0.0.1:6379/0] [--threads 1]

Prints one JSON document; docs/cache.md quotes it. Everything runs in one process, one request at a
time, so latencies are per request (not throughput under load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from alfred.cache.embedder import MiniLMEmbedder  # noqa: E402
from alfred.cache.entry import CachedAnswer  # noqa: E402
from alfred.cache.exact import ExactCache, LruStore  # noqa: E402
from alfred.cache.guard import mismatch, signature  # noqa: E402
from alfred.cache.index import IndexedQuestion, VectorIndex  # noqa: E402
from alfred.cache.keys import SemanticQuery  # noqa: E402
from alfred.cache.semantic import SemanticCache  # noqa: E402
from alfred.cache.settings import CacheSettings  # noqa: E402
from alfred.pipeline.cache import CacheStage  # noqa: E402
from alfred.pipeline.call import Call, Identity, Result  # noqa: E402
from alfred.schema import ChatRequest, ChatResponse, Choice, ResponseMessage, Usage  # noqa: E402

DATA = ROOT / "tests" / "data"
THRESHOLDS = (0.80, 0.85, 0.88, 0.90, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_ms(samples_ns: list[int]) -> dict[str, float]:
    ms = [s / 1e6 for s in samples_ns]
    return {"p50_ms": round(pct(ms, 0.5), 4), "p95_ms": round(pct(ms, 0.95), 4), "p99_ms": round(pct(ms, 0.99), 4)}


def load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


def response(text: str, tokens: int = 200) -> ChatResponse:
    return ChatResponse(
        id="chatcmpl-x",
        model="gpt-4o-mini-2024-07-18",
        created=1,
        choices=[Choice(index=0, message=ResponseMessage(content=text))],
        usage=Usage(120, tokens, 120 + tokens),
    )


# --- exact cache -----------------------------------------------------------------------------------


def typical_request(i: int = 0) -> ChatRequest:
    import msgspec

    return msgspec.convert(
        {
            "model": "gpt-4o-mini",
            "temperature": 0,
            "max_tokens": 400,
            "messages": [
                {"role": "system", "content": "You are a concise assistant for an engineering team. " * 4},
                {"role": "user", "content": f"Question {i}: how do I configure connection pooling in SQLAlchemy?"},
            ],
        },
        ChatRequest,
    )


async def bench_exact(n: int) -> dict[str, Any]:
    settings = CacheSettings(enabled=True)
    stage = CacheStage(settings, ExactCache(LruStore(10_000, 64 << 20)))
    answer_text = "Use create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True). " * 12  # ~1 KB

    async def upstream(call: Call) -> Result:
        call.outcome = "ok"
        return response(answer_text)

    call = Call("warm", "chat", typical_request(), {}, identity=Identity(team_id="t"))
    await stage(call, upstream)
    for hook in call.finish_hooks:
        await hook(call)
    hits: list[int] = []
    for i in range(n):
        call = Call(f"r{i}", "chat", typical_request(), {}, identity=Identity(team_id="t"))
        started = time.perf_counter_ns()
        result = await stage(call, upstream)
        hits.append(time.perf_counter_ns() - started)
        assert call.cache_status == "hit" and isinstance(result, ChatResponse)
    misses: list[int] = []
    for i in range(n):
        call = Call(f"m{i}", "chat", typical_request(i + 1), {}, identity=Identity(team_id="t"))
        started = time.perf_counter_ns()
        await stage(call, upstream)
        for hook in call.finish_hooks:  # the store runs after delivery, but it is still our cost
            await hook(call)
        misses.append(time.perf_counter_ns() - started)
    return {"hit_added_latency": summary_ms(hits), "miss_added_latency_incl_store": summary_ms(misses), "samples": n}


async def bench_exact_l2(n: int, redis_url: str) -> dict[str, Any]:
    from redis.asyncio import Redis

    from alfred.state.redis import RedisKeyValueStore

    client = Redis.from_url(redis_url)
    prefix = f"alfred-bench:{uuid.uuid4().hex}:"
    try:
        writer = ExactCache(LruStore(10, 1 << 20), RedisKeyValueStore(client, prefix))
        await writer.put("k", CachedAnswer(response=response("x" * 1000), stored_at=time.time(), ttl_s=600))
        samples = []
        for _ in range(n):
            reader = ExactCache(LruStore(10, 1 << 20), RedisKeyValueStore(client, prefix))  # cold L1 each time
            started = time.perf_counter_ns()
            found = await reader.get("k")
            samples.append(time.perf_counter_ns() - started)
            assert found is not None and found.level == "l2"
        return {"l2_hit_cold_l1": summary_ms(samples)}
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


# --- semantic lookup latency ----------------------------------------------------------------------


async def bench_semantic_latency(model: MiniLMEmbedder, sizes: list[int], queries: int) -> dict[str, Any]:
    rows = load("semantic_cache_pairs.jsonl")
    questions = list(dict.fromkeys([r["a"] for r in rows] + [r["b"] for r in rows]))
    real = model.embed_sync(questions)
    rng = np.random.default_rng(7)
    out: dict[str, Any] = {}
    embed_ns: list[int] = []
    for q in questions[:queries]:
        started = time.perf_counter_ns()
        await model.embed([q])
        embed_ns.append(time.perf_counter_ns() - started)
    out["embed_one_question"] = summary_ms(embed_ns)
    for size in sizes:
        exact = ExactCache(LruStore(size + 10, 1 << 30))
        index = VectorIndex(384, size)
        cache = SemanticCache(model, exact, index=index)
        # The real questions, then filler to reach the size. Filler are real vectors with noise:
        # search cost depends on the count, not the content, and this keeps scores realistic.
        for i in range(size):
            if i < len(questions):
                vec, text = real[i], questions[i]
            else:
                base = real[i % len(real)] + rng.normal(0, 0.15, 384).astype(np.float32)
                vec, text = base / np.linalg.norm(base), f"filler question {i}"
            entry_id = f"e{i}"
            index.add(IndexedQuestion(entry_id, "scope", text, None, 0, 4e9), vec.astype(np.float32))
            if i < len(questions):
                await exact.put("sem:" + entry_id, CachedAnswer(response=response(text), stored_at=time.time(), ttl_s=3600))
        lookups: list[int] = []
        searches: list[int] = []
        for q in questions[:queries]:
            started = time.perf_counter_ns()
            await cache.lookup(SemanticQuery("scope", q), 0.95)
            lookups.append(time.perf_counter_ns() - started)
            vector = real[questions.index(q)]
            started = time.perf_counter_ns()
            index.search("scope", vector, k=5, min_score=0.95)
            searches.append(time.perf_counter_ns() - started)
        out[f"{size}_entries_one_scope"] = {
            "lookup_incl_embedding": summary_ms(lookups),
            "search_only": summary_ms(searches),
            "index_mb": round(size * 384 * 4 / 2**20, 1),
        }
    return out


# --- quality per threshold ------------------------------------------------------------------------


def quality(model: MiniLMEmbedder, name: str) -> dict[str, Any]:
    rows = load(name)
    a = model.embed_sync([r["a"] for r in rows])
    b = model.embed_sync([r["b"] for r in rows])
    cosine = (a * b).sum(axis=1)
    guarded = [mismatch(signature(r["b"]), signature(r["a"])) is None for r in rows]
    positives = sum(r["label"] == "hit" for r in rows)
    negatives = len(rows) - positives
    table = []
    for t in THRESHOLDS:
        for guard in (False, True):
            served = [c >= t and (g or not guard) for c, g in zip(cosine, guarded, strict=True)]
            true = sum(s for s, r in zip(served, rows, strict=True) if r["label"] == "hit")
            false = sum(s for s, r in zip(served, rows, strict=True) if r["label"] == "miss")
            table.append(
                {
                    "threshold": t,
                    "guard": guard,
                    "true_hit_rate": round(float(true) / positives, 4),
                    "false_hit_rate": round(float(false) / negatives, 4),
                    "false_hits": int(false),
                }
            )
    by_kind = Counter(r["kind"] for r in rows)
    return {"pairs": len(rows), "paraphrases": positives, "near_misses": negatives, "kinds": dict(by_kind), "table": table}


# --- replay ---------------------------------------------------------------------------------------

_PREFIXES = ["", "", "", "Quick question: ", "Hey, ", "Please tell me: ", "I was wondering, "]
_SUFFIXES = ["", "", "", " Thanks!", " Thank you.", " Please answer briefly."]


def _surface(text: str, rng: random.Random) -> str:
    """A prompt as a person might retype it: casing, punctuation, a greeting or a thank-you."""
    roll = rng.random()
    if roll < 0.2:
        text = text.lower()
    elif roll < 0.3:
        text = text.rstrip("?.!")
    body = text[0].lower() + text[1:] if text else text
    prefix = rng.choice(_PREFIXES)
    return (prefix + body if prefix else text) + rng.choice(_SUFFIXES)


def build_replay(n: int = 1000, seed: int = 2024) -> list[tuple[str, str]]:
    """(prompt, intent id) pairs: phrasings of the pair sets' questions, each with its true intent.

    A paraphrase pair is one intent with two phrasings; a near-miss pair is two intents. Prompts are
    drawn with repeats (Zipf-like: popular questions come back), then given surface variations.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    intents: list[list[str]] = []
    for row in load("semantic_cache_pairs.jsonl"):
        if row["label"] == "hit":
            intents.append([row["a"], row["b"]])
        else:
            intents.extend([[row["a"]], [row["b"]]])
    # Near-miss pairs share a question with a paraphrase pair here and there: merge by text.
    by_text: dict[str, int] = {}
    merged: list[set[str]] = []
    for phrasings in intents:
        owner = next((by_text[p] for p in phrasings if p in by_text), None)
        if owner is None:
            owner = len(merged)
            merged.append(set())
        merged[owner].update(phrasings)
        for p in phrasings:
            by_text[p] = owner
    weights = [1.0 / (1 + rank) ** 0.6 for rank in range(len(merged))]
    order = list(range(len(merged)))
    rng.shuffle(order)
    replay = []
    for _ in range(n):
        intent = rng.choices(order, weights=weights)[0]
        phrasing = rng.choice(sorted(merged[intent]))
        replay.append((_surface(phrasing, rng), f"i{intent}"))
    return replay


async def bench_replay(model: MiniLMEmbedder, guard: bool, threshold: float = 0.95) -> dict[str, Any]:
    import msgspec

    replay = build_replay()
    settings = CacheSettings(enabled=True, semantic={"enabled": True, "guard": guard, "threshold": threshold})
    exact = ExactCache(LruStore(10_000, 1 << 28))
    from alfred.cache.guard import QuestionGuard

    semantic = SemanticCache(model, exact, index=VectorIndex(384, 10_000), guard=QuestionGuard(enabled=guard))
    stage = CacheStage(settings, exact, semantic)
    intent_of = {}

    async def upstream(call: Call) -> Result:
        call.outcome = "ok"
        assert isinstance(call.request, ChatRequest)
        return response(intent_of[call.request.messages[-1].text()])

    outcomes: Counter[str] = Counter()
    wrong: list[tuple[str, str]] = []
    for i, (prompt, intent) in enumerate(replay):
        intent_of[prompt] = intent
        request = msgspec.convert(
            {"model": "gpt-4o-mini", "temperature": 0, "messages": [{"role": "user", "content": prompt}]}, ChatRequest
        )
        call = Call(f"r{i}", "chat", request, {}, identity=Identity(team_id="t"))
        result = await stage(call, upstream)
        for hook in call.finish_hooks:
            await hook(call)
        assert isinstance(result, ChatResponse)
        status = call.cache_status or "none"
        outcomes[status] += 1
        if status in ("hit", "semantic-hit") and result.choices[0].message.content != intent:
            outcomes["wrong"] += 1
            wrong.append((prompt, call.notes["cache_hit"].get("similarity", 1.0)))
    hits = outcomes["hit"] + outcomes["semantic-hit"]
    repeats = len(replay) - len({intent for _, intent in replay})  # the most any cache could serve
    return {
        "prompts": len(replay),
        "distinct_intents": len({intent for _, intent in replay}),
        "guard": guard,
        "threshold": threshold,
        "exact_hits": outcomes["hit"],
        "semantic_hits": outcomes["semantic-hit"],
        "misses": outcomes["miss"],
        "hit_rate": round(hits / len(replay), 4),
        "hit_rate_of_possible": round(hits / repeats, 4) if repeats else None,
        "wrong_answers": outcomes["wrong"],
        "precision": round((hits - outcomes["wrong"]) / hits, 4) if hits else None,
        "examples_of_wrong": wrong[:5],
    }


# --- Redis sharing costs --------------------------------------------------------------------------


async def bench_redis_log(redis_url: str, entries: int) -> dict[str, Any]:
    from redis.asyncio import Redis

    from alfred.cache.redis_log import RedisSemanticLog
    from alfred.cache.semantic import SemanticRecord

    client = Redis.from_url(redis_url)
    prefix = f"alfred-bench:{uuid.uuid4().hex}:"
    log = RedisSemanticLog(client, prefix, max_entries=entries)
    encoder = msgspec_encoder()
    rng = np.random.default_rng(3)
    try:
        appends = []
        for i in range(entries):
            vec = rng.normal(size=384).astype(np.float32)
            vec /= np.linalg.norm(vec)
            record = SemanticRecord(f"e{i}", "scope", f"question number {i}?", vec.astype(np.float16).tobytes(), time.time(), 3600)
            started = time.perf_counter_ns()
            await log.append(encoder.encode(record))
            appends.append(time.perf_counter_ns() - started)
        exact = ExactCache(LruStore(10, 1 << 20))
        model = _NullEmbedder()
        cache = SemanticCache(model, exact, index=VectorIndex(384, entries), log_store=log)
        started = time.perf_counter_ns()
        await cache.start()
        warm_s = (time.perf_counter_ns() - started) / 1e9
        memory = await client.memory_usage(prefix + "semantic:log")
        return {
            "entries": entries,
            "append": summary_ms(appends),
            "warm_start_s": round(warm_s, 3),
            "indexed": len(cache.index),
            "stream_mb": round((memory or 0) / 2**20, 1),
        }
    finally:
        await client.delete(prefix + "semantic:log")
        await client.aclose()


def msgspec_encoder() -> Any:
    import msgspec

    return msgspec.msgpack.Encoder()


class _NullEmbedder:
    model_id = "none"
    dimensions = 384

    async def embed(self, texts: Any) -> Any:
        raise AssertionError("not used")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer samples, 10k entries only")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL, or '' to skip")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    model = MiniLMEmbedder(intra_op_threads=args.threads)
    model.embed_sync(["warm up"])
    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "embedder": {"model": model.model_id, "intra_op_threads": args.threads},
    }
    report["exact"] = await bench_exact(2000 if args.quick else 20_000)
    report["semantic_latency"] = await bench_semantic_latency(
        model, [10_000] if args.quick else [10_000, 100_000], 100 if args.quick else 300
    )
    report["quality_dev"] = quality(model, "semantic_cache_pairs.jsonl")
    report["quality_holdout"] = quality(model, "semantic_cache_holdout.jsonl")
    report["replay_guarded"] = await bench_replay(model, guard=True)
    report["replay_cosine_only"] = await bench_replay(model, guard=False)
    if args.redis:
        report["exact"].update(await bench_exact_l2(500 if args.quick else 5000, args.redis))
        report["redis_log"] = [await bench_redis_log(args.redis, n) for n in ((10_000,) if args.quick else (10_000, 100_000))]
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    asyncio.run(main())
