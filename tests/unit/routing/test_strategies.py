from __future__ import annotations

import random
from collections import Counter

import pytest

from alfred.routing.health import DeploymentHealth
from alfred.routing.strategies import (
    CheapestWithinSlaStrategy,
    LeastBusyStrategy,
    LeastLatencyStrategy,
    WeightedStrategy,
    blended_price,
    build_strategy,
)
from tests.unit.routing.deployments import deployment
from tests.unit.state.programs import VirtualClock


def test_weighted_first_choice_follows_weights_and_standby_goes_last() -> None:
    a, b, standby = deployment("a", weight=3), deployment("b", weight=1), deployment("s", weight=0)
    strategy = WeightedStrategy(random.Random(1))
    firsts: Counter[str] = Counter()
    for _ in range(4000):
        order = strategy.order([a, b, standby])
        assert order[-1] is standby and sorted(d.id for d in order) == sorted(d.id for d in (a, b, standby))
        firsts[order[0].id] += 1
    assert firsts[a.id] / 4000 == pytest.approx(0.75, abs=0.03)


def test_least_latency_prefers_lowest_ewma_and_explores_unknown() -> None:
    health = DeploymentHealth(min_samples=1)
    fast, slow, new = deployment("fast"), deployment("slow"), deployment("new")
    health.record(fast.id, 100, ok=True)
    health.record(slow.id, 900, ok=True)
    strategy = LeastLatencyStrategy(health, random.Random(0))
    assert [d.id for d in strategy.order([slow, fast, new])] == [new.id, fast.id, slow.id]


def test_least_busy_prefers_fewest_in_flight_and_spreads_ties() -> None:
    health = DeploymentHealth()
    a, b, c = deployment("a"), deployment("b"), deployment("c")
    for _ in range(3):
        health.started(a.id)
    health.started(b.id)
    strategy = LeastBusyStrategy(health, random.Random(0))
    assert [d.id for d in strategy.order([a, b, c])] == [c.id, b.id, a.id]
    health.started(c.id)  # b and c tie at 1
    firsts = Counter(strategy.order([a, b, c])[0].id for _ in range(1000))
    assert set(firsts) == {b.id, c.id} and min(firsts.values()) > 400


def test_blended_price() -> None:
    assert blended_price(deployment("x", input_price="1", output_price="5").price) == pytest.approx(2)
    assert blended_price(None) == 0


def _simulate(
    strategy: CheapestWithinSlaStrategy, health: DeploymentHealth, latency: dict[str, float], n: int
) -> Counter[str]:
    """Send n calls: each goes to the first deployment in order, which reports its current latency."""
    served: Counter[str] = Counter()
    for _ in range(n):
        chosen = strategy.order(DEPLOYMENTS)[0]
        served[chosen.endpoint.provider] += 1
        health.record(chosen.id, latency[chosen.endpoint.provider], ok=True)
    return served


CHEAP = deployment("cheap", input_price="0.15", output_price="0.60", sla_ms=800)
MID = deployment("mid", input_price="1", output_price="4")  # inherits the group's SLA
PRICEY = deployment("pricey", input_price="5", output_price="15", sla_ms=5000)
DEPLOYMENTS = [PRICEY, MID, CHEAP]


def test_cheapest_within_sla_moves_traffic_when_p95_rises_past_sla_and_back() -> None:
    clock = VirtualClock()
    health = DeploymentHealth(window=100, min_samples=10, max_age_s=60, clock=clock)
    strategy = CheapestWithinSlaStrategy(health, random.Random(0), {"chat": 1000})
    latency = {"cheap": 300.0, "mid": 600.0, "pricey": 900.0}

    assert _simulate(strategy, health, latency, 200) == Counter({"cheap": 200})

    latency["cheap"] = 1500.0  # the cheap deployment slows past its 800 ms SLA
    served = _simulate(strategy, health, latency, 200)
    # it keeps traffic only until its p95 (over its last 100 calls) crosses the SLA: 6 slow calls
    assert served["cheap"] == 6 and served["mid"] == 194
    assert strategy.order(DEPLOYMENTS)[0] is MID

    latency["mid"] = 1200.0  # now mid misses the group's 1000 ms too
    served = _simulate(strategy, health, latency, 100)
    assert served["pricey"] >= 90 and strategy.order(DEPLOYMENTS)[0] is PRICEY

    # the cheap one recovers; its slow results age out of the window and it is tried again
    latency["cheap"] = 300.0
    clock.advance(61_000)
    health.record(PRICEY.id, 900.0, ok=True)
    served = _simulate(strategy, health, latency, 50)
    assert served["cheap"] == 50


def test_cheapest_within_sla_falls_back_to_fastest_when_none_meets_it() -> None:
    health = DeploymentHealth(min_samples=1)
    strategy = CheapestWithinSlaStrategy(health, random.Random(0), {"chat": 100})
    for d, ms in ((CHEAP, 2000.0), (MID, 900.0), (PRICEY, 6000.0)):
        health.record(d.id, ms, ok=True)
    assert [d.endpoint.provider for d in strategy.order(DEPLOYMENTS)] == ["mid", "cheap", "pricey"]
    health.record(PRICEY.id, 100.0, ok=True)  # p95 over [6000, 100] is still 6000 > 5000
    assert strategy.order(DEPLOYMENTS)[0] is MID


def test_no_sla_anywhere_means_cheapest_first() -> None:
    health = DeploymentHealth(min_samples=1)
    free = deployment("free")
    for d in (CHEAP, MID, PRICEY, free):
        health.record(d.id, 10_000.0, ok=True)
    strategy = CheapestWithinSlaStrategy(health, random.Random(0))
    order = [d.endpoint.provider for d in strategy.order([PRICEY, MID, free])]
    assert order == ["free", "mid", "pricey"]


def test_build_strategy_names() -> None:
    health, rng = DeploymentHealth(), random.Random()
    for name in ("weighted", "least-latency", "cheapest-within-sla", "least-busy"):
        assert build_strategy(name, health, rng).name == name  # type: ignore[arg-type,unused-ignore]
    with pytest.raises(ValueError):
        build_strategy("round-robin", health, rng)  # type: ignore[arg-type,unused-ignore]
