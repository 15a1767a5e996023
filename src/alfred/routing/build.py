"""Builds the router, breaker, health tracker and dispatcher from settings (for the composition root)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass

from alfred.config import Settings
from alfred.providers.transport import HttpTransport
from alfred.routing.breaker import CircuitBreaker
from alfred.routing.caps import DeploymentCaps
from alfred.routing.catalog import ModelCatalog
from alfred.routing.dispatch import Dispatcher
from alfred.routing.health import DeploymentHealth
from alfred.routing.intent import IntentRouter
from alfred.routing.router import Router
from alfred.routing.strategies import build_strategy
from alfred.state import StateBackend, Transition


@dataclass(frozen=True, slots=True)
class Routing:
    """The traffic-control parts the gateway and the admin API share."""

    router: Router
    breaker: CircuitBreaker
    health: DeploymentHealth
    dispatcher: Dispatcher


def build_routing(
    settings: Settings,
    catalog: ModelCatalog,
    transport: HttpTransport,
    state: StateBackend,
    *,
    on_transition: Callable[[Transition], None] | None = None,
    on_capped: Callable[[str], None] | None = None,
    rng: random.Random | None = None,
) -> Routing:
    """``on_transition`` hears every breaker transition; ``on_capped`` every call refused because all
    its deployments were at their rpm/tpm caps (with the scope ``"deployment"``)."""
    rng = rng or random.Random()  # noqa: S311  # nosec B311 - load spreading, not security
    routing = settings.routing
    h = routing.health
    health = DeploymentHealth(
        ewma_alpha=h.ewma_alpha, window=h.window, max_age_s=h.max_age_s, min_samples=h.min_samples
    )
    default = build_strategy(routing.strategy, health, rng, routing.sla_ms)
    per_group = {
        name: build_strategy(strategy, health, rng, routing.sla_ms)
        for name, strategy in routing.group_strategies.items()
    }
    intents = IntentRouter.from_settings(routing.rules) if routing.rules else None
    router = Router(catalog, default, group_strategies=per_group, intents=intents)
    breaker_settings = routing.breaker
    policy = breaker_settings.policy()
    if not breaker_settings.enabled:
        # A breaker that never opens: thresholds no real traffic reaches.
        policy = dataclasses.replace(policy, failure_threshold=2**31, error_rate_threshold=None)
    breaker = CircuitBreaker(
        state.breakers, policy, on_transition=on_transition, closed_cache_s=breaker_settings.closed_cache_s
    )
    caps = None
    if any(DeploymentCaps.applies(d) for g in catalog.groups() for d in g.deployments):
        limits = settings.rate_limits
        caps = DeploymentCaps(
            state.limiter,
            default_completion_tokens=limits.default_completion_tokens,
            fail_open=limits.fail_open,
        )
    dispatcher = Dispatcher(
        router, transport, breaker, health, retries=settings.retries, caps=caps, on_capped=on_capped
    )
    return Routing(router, breaker, health, dispatcher)
