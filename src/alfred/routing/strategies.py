"""Ordering strategies: which of a group's deployments to try first, second, ….

Each strategy returns every candidate, best first, so the router can walk the list for retries and
skip deployments whose breaker is open. Ties are broken at random (an injected ``random.Random``)
so equal deployments share load. A deployment with weight 0 is a standby in every strategy: it goes
last, and is used only when the others fail.

Build one per strategy name with ``build_strategy(name, health, rng, group_sla_ms)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from alfred.configbase import Price
from alfred.routing.catalog import Deployment
from alfred.routing.health import DeploymentHealth
from alfred.routing.settings import StrategyName


class Strategy(Protocol):
    """Orders candidate deployments, best first; never drops one."""

    name: str

    def order(self, deployments: Sequence[Deployment]) -> list[Deployment]: ...


def blended_price(price: Price | None) -> Decimal:
    """USD per 1M tokens at the usual 3:1 input:output mix; no price reads as free (self-hosted)."""
    if price is None:
        return Decimal(0)
    return (3 * price.input_per_mtok + price.output_per_mtok) / 4


def _ranked(
    deployments: Sequence[Deployment], rng: random.Random, key: Callable[[Deployment], tuple[float, ...]]
) -> list[Deployment]:
    shuffled = list(deployments)
    rng.shuffle(shuffled)  # the sort is stable, so equal keys keep this random order
    return sorted(shuffled, key=lambda d: (d.weight <= 0, *key(d)))


class WeightedStrategy:
    """Random order with each deployment's chance of going first proportional to its weight."""

    name = "weighted"

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def order(self, deployments: Sequence[Deployment]) -> list[Deployment]:
        if len(deployments) == 1:
            return [deployments[0]]
        # Efraimidis-Spirakis: a weighted random permutation in one pass.
        keyed = [(self._rng.random() ** (1.0 / d.weight) if d.weight > 0 else -1.0, d) for d in deployments]
        keyed.sort(key=lambda pair: pair[0], reverse=True)
        return [d for _, d in keyed]


class LeastLatencyStrategy:
    """Lowest latency EWMA first; a deployment without recent data ranks first so it gets measured."""

    name = "least-latency"

    def __init__(self, health: DeploymentHealth, rng: random.Random) -> None:
        self._health = health
        self._rng = rng

    def order(self, deployments: Sequence[Deployment]) -> list[Deployment]:
        def key(d: Deployment) -> tuple[float, ...]:
            ewma = self._health.ewma_ms(d.id)
            return (0.0 if ewma is None else ewma,)

        return _ranked(deployments, self._rng, key)


class LeastBusyStrategy:
    """Fewest requests in flight (from this process) first."""

    name = "least-busy"

    def __init__(self, health: DeploymentHealth, rng: random.Random) -> None:
        self._health = health
        self._rng = rng

    def order(self, deployments: Sequence[Deployment]) -> list[Deployment]:
        return _ranked(deployments, self._rng, lambda d: (float(self._health.in_flight(d.id)),))


class CheapestWithinSlaStrategy:
    """The cheapest deployment whose p95 meets its SLA first; when none does, the fastest first.

    A deployment's SLA is its own ``sla_ms``, else its group's; without either it always qualifies.
    A p95 not yet known (too few recent results) counts as meeting the SLA, so a cheap deployment
    that recovers is tried again once its slow results age out of the health window. Deployments
    missing their SLA follow the qualifying ones, fastest p95 first, so retries still have somewhere
    to go.
    """

    name = "cheapest-within-sla"

    def __init__(
        self, health: DeploymentHealth, rng: random.Random, group_sla_ms: Mapping[str, int] | None = None
    ) -> None:
        self._health = health
        self._rng = rng
        self._group_sla_ms = dict(group_sla_ms or {})

    def sla_ms(self, deployment: Deployment) -> int | None:
        return (
            deployment.sla_ms if deployment.sla_ms is not None else self._group_sla_ms.get(deployment.group)
        )

    def order(self, deployments: Sequence[Deployment]) -> list[Deployment]:
        def key(d: Deployment) -> tuple[float, ...]:
            p95 = self._health.p95_ms(d.id)
            sla = self.sla_ms(d)
            if sla is None or p95 is None or p95 <= sla:
                return (0.0, float(blended_price(d.price)))
            return (1.0, p95)

        return _ranked(deployments, self._rng, key)


def build_strategy(
    name: StrategyName,
    health: DeploymentHealth,
    rng: random.Random,
    group_sla_ms: Mapping[str, int] | None = None,
) -> Strategy:
    """The strategy a name in settings stands for, sharing one health tracker and one RNG."""
    if name == "weighted":
        return WeightedStrategy(rng)
    if name == "least-latency":
        return LeastLatencyStrategy(health, rng)
    if name == "least-busy":
        return LeastBusyStrategy(health, rng)
    if name == "cheapest-within-sla":
        return CheapestWithinSlaStrategy(health, rng, group_sla_ms)
    raise ValueError(f"unknown routing strategy {name!r}")
