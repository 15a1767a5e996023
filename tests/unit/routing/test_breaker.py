from __future__ import annotations

import pytest
from hypothesis import given, settings

from alfred.routing.breaker import CircuitBreaker
from alfred.state.base import BreakerPolicy, BreakerState, Transition
from alfred.state.memory import MemoryBreakerStore
from tests.unit.state.checks import BreakerProgram, check_breaker_program
from tests.unit.state.drive import drive
from tests.unit.state.programs import VirtualClock, breaker_program, policies


@settings(max_examples=300, deadline=None)
@given(policies, breaker_program)
def test_breaker_matches_reference_model(policy: BreakerPolicy, program: BreakerProgram) -> None:
    clock = VirtualClock()
    drive(check_breaker_program(MemoryBreakerStore(clock), clock, policy, program))


def _breaker(policy: BreakerPolicy) -> tuple[CircuitBreaker, VirtualClock, list[Transition]]:
    clock = VirtualClock()
    seen: list[Transition] = []
    breaker = CircuitBreaker(MemoryBreakerStore(clock), policy, on_transition=seen.append, clock=clock)
    return breaker, clock, seen


def test_full_cycle_closed_open_half_open_closed() -> None:
    breaker, clock, seen = _breaker(BreakerPolicy(failure_threshold=3, window_s=10, cooldown_s=5))
    for _ in range(2):
        assert drive(breaker.allow("d")) is not None
        drive(breaker.record("d", False))
    assert drive(breaker.state("d")).state is BreakerState.CLOSED
    drive(breaker.record("d", False))
    assert drive(breaker.allow("d")) is None  # open: fast fail
    clock.advance(4_999)
    assert drive(breaker.allow("d")) is None
    clock.advance(1)
    permit = drive(breaker.allow("d"))
    assert permit is not None and permit.probe
    assert drive(breaker.allow("d")) is None  # only one probe
    drive(breaker.record("d", True, probe=True))
    assert drive(breaker.state("d")).state is BreakerState.CLOSED
    assert [(t.source, t.target) for t in seen] == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]
    assert drive(breaker.transitions("d"))[0].reason == "probe succeeded"


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    breaker, clock, _ = _breaker(BreakerPolicy(failure_threshold=1, cooldown_s=5))
    drive(breaker.record("d", False))
    clock.advance(5_000)
    assert drive(breaker.allow("d")).probe  # type: ignore[union-attr]
    clock.advance(1_000)
    drive(breaker.record("d", False, probe=True))
    clock.advance(4_999)
    assert drive(breaker.allow("d")) is None
    clock.advance(1)
    assert drive(breaker.allow("d")).probe  # type: ignore[union-attr]


def test_a_lost_probe_never_strands_the_deployment() -> None:
    """The probe's holder died without reporting: after probe_timeout another probe goes out."""
    breaker, clock, _ = _breaker(BreakerPolicy(failure_threshold=1, cooldown_s=1, probe_timeout_s=10))
    drive(breaker.record("d", False))
    clock.advance(1_000)
    assert drive(breaker.allow("d")).probe  # type: ignore[union-attr]
    clock.advance(9_999)
    assert drive(breaker.allow("d")) is None
    clock.advance(1)
    second = drive(breaker.allow("d"))
    assert second is not None and second.probe
    drive(breaker.record("d", True, probe=True))
    assert drive(breaker.allow("d")) is not None


def test_error_rate_threshold_needs_min_requests() -> None:
    breaker, _, _ = _breaker(BreakerPolicy(failure_threshold=None, error_rate_threshold=0.5, min_requests=4))
    drive(breaker.record("d", False))
    drive(breaker.record("d", False))
    assert drive(breaker.state("d")).state is BreakerState.CLOSED  # 2 results: too few to judge
    drive(breaker.record("d", True))
    drive(breaker.record("d", False))  # 3 of 4 failed
    assert drive(breaker.state("d")).state is BreakerState.OPEN


def test_failures_age_out_of_the_window() -> None:
    breaker, clock, _ = _breaker(BreakerPolicy(failure_threshold=3, window_s=10, buckets=10))
    drive(breaker.record("d", False))
    drive(breaker.record("d", False))
    clock.advance(10_000)
    drive(breaker.record("d", False))
    status = drive(breaker.state("d"))
    assert status.state is BreakerState.CLOSED and status.failures == 1


def test_force_open_pins_until_released_and_force_closed_ignores_failures() -> None:
    breaker, clock, _ = _breaker(BreakerPolicy(failure_threshold=1, cooldown_s=1))
    drive(breaker.force("d", BreakerState.OPEN))
    clock.advance(60_000)
    assert drive(breaker.allow("d")) is None  # pinned: no probe however long
    assert drive(breaker.state("d")).forced
    drive(breaker.force("d", BreakerState.CLOSED))
    drive(breaker.record("d", False))
    drive(breaker.record("d", False))
    assert drive(breaker.state("d")).state is BreakerState.CLOSED
    drive(breaker.force("d", None))
    drive(breaker.record("d", False))
    assert drive(breaker.state("d")).state is BreakerState.OPEN
    with pytest.raises(ValueError):
        drive(breaker.force("d", BreakerState.HALF_OPEN))


def test_closed_cache_skips_the_store_but_not_after_its_own_open() -> None:
    clock = VirtualClock()
    store = MemoryBreakerStore(clock)
    policy = BreakerPolicy(failure_threshold=1, cooldown_s=30)
    cached = CircuitBreaker(store, policy, closed_cache_s=1.0, clock=clock)
    other = CircuitBreaker(store, policy)
    assert drive(cached.allow("d")) is not None
    drive(other.record("d", False))  # another process opens it
    assert drive(cached.allow("d")) is not None  # still trusted from cache
    clock.advance(1_000)
    assert drive(cached.allow("d")) is None  # cache expired: sees open
    drive(cached.force("d", None))
    assert drive(cached.allow("d")) is not None
    drive(cached.record("d", False))  # its own failure opens it: cache dropped at once
    assert drive(cached.allow("d")) is None


def test_by_default_rare_failures_of_a_busy_deployment_never_open_its_breaker() -> None:
    from alfred.routing.settings import BreakerSettings

    breaker, clock, _ = _breaker(BreakerSettings().policy())
    for i in range(2_000):  # 1 in 100 fails: 20 failures a minute, far past any small count
        assert drive(breaker.allow("d")) is not None
        drive(breaker.record("d", i % 100 != 0))
        clock.advance(30)  # ms: 2,000 results over a minute
    assert drive(breaker.state("d")).state is BreakerState.CLOSED
    went_down = clock()
    while drive(breaker.allow("d")) is not None:  # it goes down: every call fails from now on
        drive(breaker.record("d", False))
        clock.advance(30)
    # Open once failures are half of the window's results: within the window, never on a lone hiccup.
    assert drive(breaker.state("d")).state is BreakerState.OPEN
    assert clock() - went_down <= 60
