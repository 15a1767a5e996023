from __future__ import annotations

import math

import pytest
from hypothesis import given, settings

from alfred.state.base import Charge, Limit
from alfred.state.memory import MemoryRateLimiter
from tests.unit.state.checks import BucketProgram, check_bucket_program, check_repeated_key_in_one_call
from tests.unit.state.drive import drive
from tests.unit.state.programs import BUCKETS, VirtualClock, bucket_program


@settings(max_examples=300, deadline=None)
@given(bucket_program)
def test_token_bucket_matches_exact_reference_model(program: BucketProgram) -> None:
    clock = VirtualClock()
    # sweeps every 7 virtual seconds, so dropping idle buckets is exercised mid-program too
    drive(check_bucket_program(MemoryRateLimiter(clock, sweep_interval_s=7.0), clock, program))


@settings(max_examples=200, deadline=None)
@given(bucket_program)
def test_admitted_never_exceeds_burst_plus_refill(
    program: list[tuple[str, int, list[tuple[int, int]]]],
) -> None:
    """Without corrections, any span of T seconds admits at most capacity + rate * T units per bucket."""
    clock = VirtualClock()
    limiter = MemoryRateLimiter(clock)
    admitted: dict[str, list[tuple[int, int]]] = {}
    for _, advance_ms, picks in program:
        clock.advance(advance_ms)
        charges = [
            Charge(BUCKETS[i][0], Limit(BUCKETS[i][1], BUCKETS[i][2] / 1000), abs(c)) for i, c in picks
        ]
        if drive(limiter.acquire(charges))[0].allowed:
            for charge in charges:
                admitted.setdefault(charge.key, []).append((clock.ms, int(charge.cost)))
    for key, capacity, period_ms in BUCKETS:
        events = admitted.get(key, [])
        for i in range(len(events)):
            for j in range(i, len(events)):
                span_ms = events[j][0] - events[i][0]
                total = sum(cost for _, cost in events[i : j + 1])
                assert total <= capacity + capacity * span_ms / period_ms + 1e-6


def test_all_or_nothing_leaves_other_buckets_untouched() -> None:
    clock = VirtualClock()
    limiter = MemoryRateLimiter(clock)
    roomy, tight = Limit(100, 60), Limit(1, 60)
    assert drive(limiter.acquire([Charge("r", roomy, 1), Charge("t", tight, 1)]))[0].allowed
    refused = drive(limiter.acquire([Charge("r", roomy, 1), Charge("t", tight, 1)]))
    assert [d.allowed for d in refused] == [False, False]
    assert refused[0].retry_after_s == 0 and refused[1].retry_after_s == pytest.approx(60)
    assert refused[0].remaining == 99  # the refused call took nothing from the roomy bucket


def test_cost_above_capacity_never_fits() -> None:
    limiter = MemoryRateLimiter(VirtualClock())
    (decision,) = drive(limiter.acquire([Charge("k", Limit(10, 60), 11)]))
    assert not decision.allowed and math.isinf(decision.retry_after_s)


def test_correction_can_go_into_debt_and_refund_caps_at_capacity() -> None:
    clock = VirtualClock()
    limiter = MemoryRateLimiter(clock)
    limit = Limit(600, 60)  # 10 per second
    drive(limiter.acquire([Charge("k", limit, 100)]))
    drive(limiter.adjust([Charge("k", limit, 700)]))  # used 800 in truth: 200 in debt
    (d,) = drive(limiter.acquire([Charge("k", limit, 1)]))
    assert not d.allowed and d.retry_after_s == pytest.approx(20.1)
    drive(limiter.adjust([Charge("k", limit, -10_000)]))
    (d,) = drive(limiter.acquire([Charge("k", limit, 600)]))
    assert d.allowed and d.remaining == 0


def test_idle_full_buckets_are_swept() -> None:
    clock = VirtualClock()
    limiter = MemoryRateLimiter(clock, sweep_interval_s=60)
    for i in range(100):
        drive(limiter.acquire([Charge(f"ip:{i}", Limit(60, 60), 1)]))
    assert len(limiter) == 100
    clock.advance(61_000)
    drive(limiter.acquire([Charge("ip:new", Limit(60, 60), 1)]))
    assert len(limiter) == 1


def test_repeated_key_in_one_call_compounds() -> None:
    drive(check_repeated_key_in_one_call(MemoryRateLimiter(VirtualClock())))
