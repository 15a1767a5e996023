from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from redis.asyncio import Redis

from alfred.state.base import Charge, Limit
from alfred.state.redis import RedisRateLimiter
from tests.integration.state.env import REDIS_URL
from tests.integration.state.processes import race_processes
from tests.unit.state.checks import BucketProgram, check_bucket_program, check_repeated_key_in_one_call
from tests.unit.state.programs import VirtualClock, bucket_program


def test_lua_token_bucket_matches_exact_reference_model(prefix: str) -> None:
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        client = Redis.from_url(REDIS_URL)

        @settings(max_examples=150, deadline=None)
        @given(bucket_program)
        def check(program: BucketProgram) -> None:
            clock = VirtualClock()
            limiter = RedisRateLimiter(client, f"{prefix}{uuid.uuid4().hex}:", clock)
            runner.run(check_bucket_program(limiter, clock, program))

        try:
            check()
        finally:
            runner.run(client.aclose())


async def test_repeated_key_in_one_call_compounds(prefix: str, clients: Callable[[], Redis]) -> None:
    await check_repeated_key_in_one_call(RedisRateLimiter(clients(), prefix, VirtualClock()))


async def test_instances_with_one_clock_admit_exactly_the_limit(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    clock = VirtualClock()
    limiters = [RedisRateLimiter(clients(), prefix, clock) for _ in range(4)]
    limit = Limit(60, 60)
    results = await asyncio.gather(
        *(lim.acquire([Charge("key:k:r", limit, 1)]) for lim in limiters for _ in range(50))
    )
    assert sum(r[0].allowed for r in results) == 60
    # weighted costs (tokens): admitted cost never passes the bucket
    tokens = Limit(10_000, 60)
    costs = [37 * (i % 9 + 1) for i in range(400)]
    results = await asyncio.gather(
        *(limiters[i % 4].acquire([Charge("key:k:t", tokens, c)]) for i, c in enumerate(costs))
    )
    admitted = sum(c for c, r in zip(costs, results, strict=True) if r[0].allowed)
    assert 10_000 - 37 * 9 < admitted <= 10_000


async def test_server_clock_refills_and_reports_reset(prefix: str, clients: Callable[[], Redis]) -> None:
    limiter = RedisRateLimiter(clients(), prefix)  # no injected clock: Redis TIME
    limit = Limit(2, 3600)
    first, second, third = [(await limiter.acquire([Charge("k", limit, 1)]))[0] for _ in range(3)]
    assert first.allowed and second.allowed and not third.allowed
    assert (first.remaining, second.remaining) == (1, 0)
    assert second.reset_s == pytest.approx(3600, abs=1)
    assert third.retry_after_s == pytest.approx(1800, abs=1)
    await limiter.adjust([Charge("k", limit, -1)])  # a refund makes room at once
    assert (await limiter.acquire([Charge("k", limit, 1)]))[0].allowed


async def test_idle_buckets_expire(prefix: str, clients: Callable[[], Redis]) -> None:
    client = clients()
    limiter = RedisRateLimiter(client, prefix)
    await limiter.acquire([Charge("k", Limit(100, 10), 50)])
    ttl_ms = await client.pttl(prefix + "rl:k")
    assert 5_000 < ttl_ms <= 6_000  # half empty at 10/s: full (and forgotten) after 5 s, plus 1 s slack


async def test_sixty_rpm_key_admits_sixty_across_two_processes_not_120(prefix: str) -> None:
    # One frozen clock shared by both processes: no refill during the race, so exactly 60 must pass.
    won = await race_processes(
        2,
        prefix,
        "--mode",
        "limiter",
        "--name",
        "key:k:r",
        "--capacity",
        "60",
        "--period",
        "60",
        "--attempts",
        "100",
        "--now",
        "1000000.0",
    )
    assert sum(won) == 60, won


@pytest.mark.parametrize("processes", [2, 4])
@pytest.mark.parametrize("limit", [60, 1000])
async def test_limit_holds_across_processes(prefix: str, processes: int, limit: int) -> None:
    # Redis's own clock, and L per hour, so the refill during a race of a few seconds stays under 1%.
    attempts = math.ceil(2 * limit / processes)  # twice the limit offered in total
    won = await race_processes(
        processes,
        prefix,
        "--mode",
        "limiter",
        "--name",
        "key:k:r",
        "--capacity",
        str(limit),
        "--period",
        "3600",
        "--attempts",
        str(attempts),
    )
    assert limit <= sum(won) <= limit * 1.01 + 1, won
