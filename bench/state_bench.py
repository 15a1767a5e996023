"""What a rate-limit check and a breaker check cost: in process, and one Redis round trip.

Run: .venv/bin/python bench/state_bench.py [--iterations 20000] [--redis-url redis://127.0.0.1:6379/0]

Each figure is the latency of one awaited call, one at a time (no pipelining), so the Redis rows are
a full round trip. A PING row gives the floor any Redis call pays on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from alfred.pipeline.call import Call, Identity, Result
from alfred.pipeline.rate_limit import RateLimitStage
from alfred.routing.breaker import CircuitBreaker
from alfred.routing.settings import RateLimitSettings, RateValue
from alfred.schema import ChatRequest, ChatResponse, Message
from alfred.state.base import BreakerPolicy, Charge, Limit
from alfred.state.memory import MemoryBreakerStore, MemoryRateLimiter
from alfred.state.redis import RedisBreakerStore, RedisRateLimiter

# Big limits so every check is admitted: the bench measures the check, not refusals.
RPM, TPM = Limit(10**9, 60), Limit(10**12, 60)
CHARGES = [Charge("key:bench:r", RPM, 1), Charge("key:bench:t", TPM, 500)]


async def measure(
    label: str, op: Callable[[], Awaitable[object]], iterations: int
) -> tuple[str, float, float]:
    for _ in range(min(1000, iterations // 10)):  # warm-up: script load, pools, caches
        await op()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter_ns()
        await op()
        samples.append(time.perf_counter_ns() - started)
    samples.sort()
    return label, statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


async def main(iterations: int, redis_url: str) -> None:
    rows = []
    memory = MemoryRateLimiter()
    rows.append(
        await measure("memory: acquire (rpm + tpm buckets)", lambda: memory.acquire(CHARGES), iterations)
    )

    stage = RateLimitStage(
        MemoryRateLimiter(), RateLimitSettings(key=RateValue(rpm=10**9, tpm=10**12), ip=RateValue(rpm=10**9))
    )
    request = ChatRequest(
        model="gpt-4o", messages=[Message(role="user", content="hello " * 50)], max_tokens=200
    )
    answer = ChatResponse(id="x", model="m", created=0, choices=[])

    async def handler(call: Call) -> Result:
        return answer

    async def through_stage() -> object:
        call = Call(
            "r", "chat", request, {"authorization": "Bearer sk-bench"}, "10.0.0.1", identity=Identity()
        )
        return await stage(call, handler)

    rows.append(await measure("memory: whole rate_limit stage (3 buckets)", through_stage, iterations))
    breaker = CircuitBreaker(MemoryBreakerStore(), BreakerPolicy())
    rows.append(await measure("memory: breaker.allow", lambda: breaker.allow("dep"), iterations))

    client = Redis.from_url(redis_url)
    prefix = f"alfred-bench:{uuid.uuid4().hex}:"
    try:
        redis_limiter = RedisRateLimiter(client, prefix)
        rows.append(await measure("redis: PING (round-trip floor)", client.ping, iterations))
        rows.append(
            await measure(
                "redis: acquire (rpm + tpm, one EVALSHA)", lambda: redis_limiter.acquire(CHARGES), iterations
            )
        )
        redis_breaker = CircuitBreaker(RedisBreakerStore(client, prefix), BreakerPolicy())
        rows.append(
            await measure(
                "redis: breaker.allow (one EVALSHA)", lambda: redis_breaker.allow("dep"), iterations
            )
        )
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    width = max(len(r[0]) for r in rows)
    print(f"{'check':<{width}}  {'p50 µs':>9}  {'p99 µs':>9}   ({iterations} calls each)")
    for label, p50, p99 in rows:
        print(f"{label:<{width}}  {p50:>9.1f}  {p99:>9.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    try:
        import uvloop  # the gateway's loop; asyncio's where it is missing

        run: Callable[..., None] = uvloop.run
    except ImportError:
        run = asyncio.run
    run(main(args.iterations, args.redis_url))
