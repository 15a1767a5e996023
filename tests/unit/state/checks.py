"""Program runners that hold a real implementation to a reference model, step by step.

Async so the same check runs against the in-memory backend (driven without a loop) and Redis.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from alfred.routing.breaker import CircuitBreaker, Permit
from alfred.state.base import BreakerPolicy, BreakerState, BreakerStore, Charge, Limit, RateLimiter
from tests.unit.state.programs import BUCKETS, VirtualClock
from tests.unit.state.reference import ReferenceBreaker, ReferenceLimiter

BucketProgram = list[tuple[str, int, list[tuple[int, int]]]]
BreakerProgram = list[tuple[Any, ...]]  # ("allow", ms) | ("result", ms, success, pick) | ("force", ms, state)


def _charges(
    picks: list[tuple[int, int]], absolute: bool
) -> tuple[list[Charge], list[tuple[str, int, int, int]]]:
    real, ref = [], []
    for index, cost in picks:
        key, capacity, period_ms = BUCKETS[index]
        cost = abs(cost) if absolute else cost
        real.append(Charge(key, Limit(capacity, period_ms / 1000), cost))
        ref.append((key, capacity, period_ms, cost))
    return real, ref


async def check_bucket_program(limiter: RateLimiter, clock: VirtualClock, program: BucketProgram) -> None:
    model = ReferenceLimiter()
    for op, advance_ms, picks in program:
        clock.advance(advance_ms)
        if op == "adjust":
            real, ref = _charges(picks, absolute=False)
            await limiter.adjust(real)
            model.adjust(clock.ms, ref)
            continue
        real, ref = _charges(picks, absolute=True)  # callers never acquire a negative cost
        decisions = await limiter.acquire(real)
        expected = model.acquire(clock.ms, ref)
        assert [d.allowed for d in decisions] == [expected] * len(ref)
        for decision, (key, capacity, period_ms, cost) in zip(decisions, ref, strict=True):
            level = model.buckets[key].peek(clock.ms)
            assert decision.limit == capacity
            assert decision.remaining == max(0, math.floor(level))
            # Redis reports whole milliseconds, rounded up
            assert decision.reset_s == pytest.approx(
                float((capacity - level) * period_ms / capacity / 1000), abs=1.001e-3
            )
            if expected or cost <= level:
                assert decision.retry_after_s == 0
            elif cost > capacity:
                assert math.isinf(decision.retry_after_s)
            else:
                want = float((cost - level) * period_ms / capacity / 1000)
                assert decision.retry_after_s == pytest.approx(want, abs=1.001e-3)


async def check_repeated_key_in_one_call(limiter: RateLimiter) -> None:
    """Two charges on one bucket in one call compound, as two calls would."""
    limit = Limit(5, 60)
    refused = await limiter.acquire([Charge("same", limit, 3), Charge("same", limit, 3)])
    assert not any(d.allowed for d in refused)
    allowed = await limiter.acquire([Charge("same", limit, 2), Charge("same", limit, 2)])
    assert all(d.allowed for d in allowed) and [d.remaining for d in allowed] == [3, 1]
    (after,) = await limiter.acquire([Charge("same", limit, 1)])
    assert after.allowed and after.remaining == 0


async def check_breaker_program(
    store: BreakerStore, clock: VirtualClock, policy: BreakerPolicy, program: BreakerProgram
) -> None:
    breaker = CircuitBreaker(store, policy)
    model = ReferenceBreaker(policy)
    outstanding: list[Permit] = []
    for step in program:
        clock.advance(step[1])
        now = clock()
        if step[0] == "allow":
            permit = await breaker.allow("dep")
            allowed, probe = model.allow(now)
            assert (permit is not None, permit is not None and permit.probe) == (allowed, probe), step
            if permit is not None:
                outstanding.append(permit)
        elif step[0] == "result":
            if not outstanding:
                continue
            permit = outstanding.pop(step[3] % len(outstanding))
            await breaker.record("dep", step[2], permit.probe)
            model.record(now, step[2], permit.probe)
        else:
            await breaker.force("dep", step[2])
            model.force(now, step[2])
            outstanding.clear()
        status = await breaker.state("dep")
        assert status.state == model.effective_state(now), step
        assert status.forced == model.forced
        assert (status.failures, status.successes) == model.window_counts(now)
        assert status.probe_in_flight == (model.state is BreakerState.HALF_OPEN and now < model.probe_until)
    log = await breaker.transitions("dep", limit=1000)
    assert len(log) == min(model.transitions, policy.history)
