"""Deployment rpm/tpm caps: the buckets on their own, then through the dispatcher."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from alfred.errors import RateLimitError
from alfred.pipeline.metering import MeteredHandler
from alfred.routing.caps import CapGrant, DeploymentCaps, retry_after, token_estimate
from alfred.state.base import BreakerPolicy, BreakerState, Charge, Decision, Limit
from alfred.state.memory import MemoryBreakerStore, MemoryRateLimiter
from tests.unit.routing.deployments import deployment
from tests.unit.routing.dispatching import ScriptedTransport, catalog, chat_call, dispatcher, finish
from tests.unit.state.programs import VirtualClock


class BrokenLimiter:
    """A state backend that is down."""

    async def acquire(self, charges: Sequence[Charge]) -> list[Decision]:
        raise ConnectionError("redis is down")

    async def adjust(self, charges: Sequence[Charge]) -> None:
        raise ConnectionError("redis is down")


# --- the caps on their own ------------------------------------------------------------------------


async def test_an_rpm_cap_admits_its_capacity_then_says_when_there_is_room() -> None:
    clock = VirtualClock()
    caps = DeploymentCaps(MemoryRateLimiter(clock))
    capped = deployment("a", rpm=3)
    grants = [await caps.acquire(chat_call(), capped) for _ in range(3)]
    assert all(isinstance(g, CapGrant) and g.requests is not None for g in grants)
    refused = await caps.acquire(chat_call(), capped)
    assert refused == pytest.approx(20.0)  # 3 per minute: one request's room every 20 s
    clock.advance(20_000)
    assert isinstance(await caps.acquire(chat_call(), capped), CapGrant)


async def test_a_deployment_without_caps_costs_no_state_call() -> None:
    caps = DeploymentCaps(BrokenLimiter(), fail_open=False)
    grant = await caps.acquire(chat_call(), deployment("free"))
    assert grant == CapGrant() and not DeploymentCaps.applies(deployment("free"))


async def test_a_tpm_cap_reserves_the_estimate_and_is_trued_up_to_usage() -> None:
    caps = DeploymentCaps(MemoryRateLimiter(VirtualClock()), default_completion_tokens=50)
    capped = deployment("a", tpm=1_000)
    call = chat_call(max_tokens=400)
    estimate = token_estimate(call.request, 50)
    assert estimate > 400
    grant = await caps.acquire(call, capped)
    assert isinstance(grant, CapGrant) and grant.tokens is not None and grant.tokens.cost == estimate
    assert call.notes["token_estimate"] == estimate
    # the reservation leaves too little room for a call of 600 more ...
    bigger = chat_call(max_tokens=600)
    assert estimate + token_estimate(bigger.request, 50) > 1_000
    assert not isinstance(await caps.acquire(bigger, capped), CapGrant)
    # ... until the first call turns out to have used 30 tokens
    await caps.settle(grant, 30)
    assert isinstance(await caps.acquire(bigger, capped), CapGrant)


async def test_release_gives_everything_back_and_failed_keeps_the_request() -> None:
    caps = DeploymentCaps(MemoryRateLimiter(VirtualClock()))
    capped = deployment("a", rpm=1, tpm=10_000)
    grant = await caps.acquire(chat_call(), capped)
    assert isinstance(grant, CapGrant)
    await caps.release(grant)  # never sent: the one request per minute is free again
    grant = await caps.acquire(chat_call(), capped)
    assert isinstance(grant, CapGrant)
    await caps.failed(grant)  # sent and failed: the request stays spent
    assert not isinstance(await caps.acquire(chat_call(), capped), CapGrant)


async def test_a_request_larger_than_the_tpm_cap_can_never_fit() -> None:
    caps = DeploymentCaps(MemoryRateLimiter(VirtualClock()))
    wait = await caps.acquire(chat_call(max_tokens=5_000), deployment("a", tpm=1_000))
    assert wait == math.inf
    assert (
        retry_after([math.inf]) == 60 and retry_after([math.inf, 2.2, 7.0]) == 3 and retry_after([0.1]) == 1
    )


async def test_a_broken_backend_fails_open_or_closed_as_configured() -> None:
    capped = deployment("a", rpm=1)
    assert await DeploymentCaps(BrokenLimiter()).acquire(chat_call(), capped) == CapGrant()
    with pytest.raises(ConnectionError):
        await DeploymentCaps(BrokenLimiter(), fail_open=False).acquire(chat_call(), capped)


# --- through the dispatcher -----------------------------------------------------------------------


async def test_a_capped_deployment_is_skipped_and_traffic_spills_to_the_next() -> None:
    transport = ScriptedTransport()
    models = catalog(("chat", [deployment("a", rpm=2), deployment("b")], []))
    route = dispatcher(
        models, transport, MemoryBreakerStore(), DeploymentCaps(MemoryRateLimiter(VirtualClock()))
    )
    for i in range(5):
        await route(chat_call(rid=str(i)))
    assert transport.sent == {"a": 2, "b": 3}


async def test_every_deployment_capped_and_no_fallback_is_a_429_with_retry_after() -> None:
    transport = ScriptedTransport()
    models = catalog(("chat", [deployment("a", rpm=1), deployment("b", rpm=2)], []))
    capped: list[str] = []
    route = dispatcher(
        models,
        transport,
        MemoryBreakerStore(),
        DeploymentCaps(MemoryRateLimiter(VirtualClock())),
        capped=capped,
    )
    for i in range(3):
        await route(chat_call(rid=str(i)))
    with pytest.raises(RateLimitError) as refused:
        await route(chat_call(rid="over"))
    assert refused.value.status == 429 and "'chat'" in refused.value.message
    assert refused.value.headers["retry-after"] == "30"  # b frees a request first: 2 per minute
    assert transport.sent == {"a": 1, "b": 2} and capped == ["deployment"]


async def test_a_fallback_group_serves_when_the_primary_group_is_capped() -> None:
    transport = ScriptedTransport()
    models = catalog(
        ("chat", [deployment("a", rpm=1)], ["spare"]), ("spare", [deployment("s", group="spare")], [])
    )
    route = dispatcher(
        models, transport, MemoryBreakerStore(), DeploymentCaps(MemoryRateLimiter(VirtualClock()))
    )
    first, second = chat_call(rid="1"), chat_call(rid="2")
    await route(first)
    await route(second)
    assert transport.sent == {"a": 1, "s": 1} and second.deployment_id == "spare/s/model"


async def test_an_open_breaker_gives_the_cap_back_and_a_capped_deployment_never_takes_the_probe() -> None:
    clock = VirtualClock()
    breakers = MemoryBreakerStore(clock)
    policy = BreakerPolicy(failure_threshold=1, cooldown_s=10)
    limiter = MemoryRateLimiter(clock)
    transport = ScriptedTransport()
    a = deployment("a", rpm=1)
    models = catalog(("chat", [a, deployment("b")], []))
    route = dispatcher(models, transport, breakers, DeploymentCaps(limiter), policy=policy)
    await breakers.force(a.id, BreakerState.OPEN, policy)
    await route(chat_call(rid="1"))  # a's breaker refuses: its one request a minute is given back
    await breakers.force(a.id, None, policy)
    await route(chat_call(rid="2"))
    assert transport.sent == {"b": 1, "a": 1}
    # a is now at its cap and its breaker opens after a failure elsewhere; past the cooldown the
    # probe must wait for a deployment that can be sent to, not be claimed and stranded by a capped one
    transport.status["a"] = 500
    clock.advance(60_000)
    await route(chat_call(rid="3"))  # a fails (breaker opens), b serves
    clock.advance(10_000)  # past the cooldown, a's cap has room again after 60 s only
    await route(chat_call(rid="4"))
    status = await breakers.status(a.id, policy)
    assert transport.sent["a"] == 2 and not status.probe_in_flight


async def test_a_tpm_cap_is_settled_to_the_served_usage_when_the_call_finishes() -> None:
    limiter = MemoryRateLimiter(VirtualClock())
    transport = ScriptedTransport(usage_tokens=(10, 20))
    a = deployment("a", tpm=1_000)
    models = catalog(("chat", [a, deployment("b")], []))
    handler = MeteredHandler(dispatcher(models, transport, MemoryBreakerStore(), DeploymentCaps(limiter)))
    call = chat_call(max_tokens=900)
    await handler(call)
    assert transport.sent == {"a": 1}
    blocked = chat_call(max_tokens=900, rid="2")
    await handler(blocked)  # a still holds the first call's reservation: b serves
    assert transport.sent == {"a": 1, "b": 1}
    await finish(call)  # the first call used 30 tokens: room for another 900
    again = chat_call(max_tokens=900, rid="3")
    await handler(again)
    assert transport.sent == {"a": 2, "b": 1}


async def test_a_failed_attempt_gives_its_tokens_back_and_the_retry_goes_elsewhere() -> None:
    limiter = MemoryRateLimiter(VirtualClock())
    transport = ScriptedTransport()
    transport.status["a"] = 503
    a = deployment("a", tpm=1_000)
    models = catalog(("chat", [a, deployment("b")], []))
    route = dispatcher(models, transport, MemoryBreakerStore(), DeploymentCaps(limiter))
    await route(chat_call(max_tokens=900))
    assert transport.sent == {"a": 1, "b": 1}
    decision = (await limiter.acquire([Charge(f"deployment:{a.id}:t", Limit(1_000, 60.0), 1_000)]))[0]
    assert decision.allowed, "the failed attempt's reservation was not given back"
