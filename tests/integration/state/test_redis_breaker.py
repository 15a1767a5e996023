from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from hypothesis import given, settings
from redis.asyncio import Redis

from alfred.routing.breaker import CircuitBreaker
from alfred.state.base import BreakerPolicy, BreakerState
from alfred.state.redis import RedisBreakerStore
from tests.integration.state.env import REDIS_URL
from tests.integration.state.processes import race_processes
from tests.unit.state.checks import BreakerProgram, check_breaker_program
from tests.unit.state.programs import VirtualClock, breaker_program, policies


def test_lua_breaker_matches_reference_model(prefix: str) -> None:
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        client = Redis.from_url(REDIS_URL)

        @settings(max_examples=120, deadline=None)
        @given(policies, breaker_program)
        def check(policy: BreakerPolicy, program: BreakerProgram) -> None:
            clock = VirtualClock()
            store = RedisBreakerStore(client, f"{prefix}{uuid.uuid4().hex}:", clock)
            runner.run(check_breaker_program(store, clock, policy, program))

        try:
            check()
        finally:
            runner.run(client.aclose())


async def test_breaker_opened_by_one_instance_is_open_for_the_other(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    policy = BreakerPolicy(failure_threshold=3, cooldown_s=60)
    one = CircuitBreaker(RedisBreakerStore(clients(), prefix), policy)
    two = CircuitBreaker(RedisBreakerStore(clients(), prefix), policy)
    assert await two.allow("dep") is not None
    await one.record("dep", False)
    await two.record("dep", False)  # failures from both processes add up
    await one.record("dep", False)
    assert await two.allow("dep") is None
    status = await two.state("dep")
    assert status.state is BreakerState.OPEN and status.failures == 3
    assert [t.reason for t in await two.transitions("dep")] == ["3 failures in window"]
    await two.force("dep", None)  # an admin on either process closes it for both
    assert await one.allow("dep") is not None


async def test_half_open_admits_exactly_one_probe_across_instances(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    clock = VirtualClock()
    policy = BreakerPolicy(failure_threshold=1, cooldown_s=5, probe_timeout_s=30)
    breakers = [CircuitBreaker(RedisBreakerStore(clients(), prefix, clock), policy) for _ in range(4)]
    for round_ in range(20):
        await breakers[round_ % 4].record(
            "dep", False, probe=round_ > 0
        )  # opens (or re-opens from half-open)
        clock.advance(5_000)
        permits = await asyncio.gather(*(b.allow("dep") for b in breakers for _ in range(25)))
        probes = [p for p in permits if p is not None]
        assert len(probes) == 1 and probes[0].probe
    await breakers[0].record("dep", True, probe=True)
    assert all(p is not None for p in await asyncio.gather(*(b.allow("dep") for b in breakers)))


async def test_half_open_admits_exactly_one_probe_across_processes(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    policy = BreakerPolicy(failure_threshold=1, cooldown_s=0.0)
    opener = CircuitBreaker(RedisBreakerStore(clients(), prefix), policy)
    await opener.record("dep", False)
    assert (await opener.state("dep")).state is BreakerState.HALF_OPEN  # cooled down, probe not yet claimed
    won = await race_processes(4, prefix, "--mode", "probe", "--name", "dep", "--attempts", "25")
    assert sum(won) == 1, won
