"""Deployment rpm caps held in real Redis: gateways with their own connections share one cap."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from redis.asyncio import Redis

from alfred.errors import RateLimitError
from alfred.routing.caps import DeploymentCaps
from alfred.routing.catalog import ModelCatalog
from alfred.routing.dispatch import Dispatcher
from alfred.state.redis import RedisBreakerStore, RedisRateLimiter
from tests.unit.routing.deployments import deployment
from tests.unit.routing.dispatching import ScriptedTransport, catalog, chat_call, dispatcher

FROZEN = 1_700_000_000.0  # one clock for every instance: no refill during the test, so counts are exact


def gateways(
    count: int, models: ModelCatalog, prefix: str, clients: Callable[[], Redis], transport: ScriptedTransport
) -> list[Dispatcher]:
    """``count`` dispatchers, each over its own Redis connection pool, as separate processes have."""
    made = []
    for _ in range(count):
        client = clients()
        caps = DeploymentCaps(RedisRateLimiter(client, prefix, lambda: FROZEN), fail_open=False)
        made.append(dispatcher(models, transport, RedisBreakerStore(client, prefix, lambda: FROZEN), caps))
    return made


async def test_a_cap_holds_across_gateways_and_the_rest_spills_over(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    transport = ScriptedTransport()
    models = catalog(("chat", [deployment("a", rpm=7), deployment("b")], []))
    routes = gateways(3, models, prefix, clients, transport)
    await asyncio.gather(*(routes[i % 3](chat_call(rid=str(i))) for i in range(30)))
    assert transport.sent == {"a": 7, "b": 23}


async def test_every_deployment_capped_everywhere_is_a_429(prefix: str, clients: Callable[[], Redis]) -> None:
    transport = ScriptedTransport()
    models = catalog(("chat", [deployment("a", rpm=4)], []))
    routes = gateways(2, models, prefix, clients, transport)
    outcomes = await asyncio.gather(
        *(routes[i % 2](chat_call(rid=str(i))) for i in range(10)), return_exceptions=True
    )
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert transport.sent == {"a": 4} and len(refused) == 6
    assert all(isinstance(o, RateLimitError) and o.headers["retry-after"] == "15" for o in refused)
