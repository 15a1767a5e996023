"""GET /admin/providers and forcing a breaker, in memory and across processes over Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from alfred.routing.breaker import CircuitBreaker
from alfred.routing.build import Routing
from alfred.routing.dispatch import Dispatcher
from alfred.routing.health import DeploymentHealth
from alfred.routing.router import Router
from alfred.state.base import BreakerPolicy, BreakerStore
from alfred.state.memory import MemoryBreakerStore
from alfred.state.redis import RedisBreakerStore
from tests.integration.admin.harness import Harness, assert_openai_error, make_tenant, open_harness
from tests.integration.state.env import REDIS_URL
from tests.unit.routing.deployments import deployment
from tests.unit.routing.dispatching import InOrder, ScriptedTransport, catalog

POLICY = BreakerPolicy(failure_threshold=2, cooldown_s=60)
FIRST = "chat/first/model"


def routing(store: BreakerStore) -> Routing:
    router = Router(catalog(("chat", [deployment("first"), deployment("second")], [])), InOrder())
    breaker = CircuitBreaker(store, POLICY)
    health = DeploymentHealth(min_samples=1)
    return Routing(router, breaker, health, Dispatcher(router, ScriptedTransport(), breaker, health))


@pytest.fixture
async def with_routing(tmp_path: Path) -> AsyncIterator[Harness]:
    built = await open_harness(tmp_path, routing=routing(MemoryBreakerStore()))
    try:
        yield built
    finally:
        await built.close()


async def test_lists_deployments_with_breaker_and_health(with_routing: Harness) -> None:
    assert with_routing.deps.routing is not None
    with_routing.deps.routing.health.record(FIRST, 120.0, ok=True)
    await with_routing.deps.routing.breaker.record(FIRST, success=False)
    async with with_routing.client() as master:
        rows = (await master.get("/admin/providers")).json()["data"]
    assert [r["deployment"] for r in rows] == [FIRST, "chat/second/model"]
    first = rows[0]
    assert (first["group"], first["provider"], first["breaker"], first["forced"]) == (
        "chat",
        "first",
        "closed",
        None,
    )
    assert (first["latency_ewma_ms"], first["error_rate"], first["failures"]) == (120.0, 0.0, 1)
    assert rows[1]["latency_ewma_ms"] is None and rows[1]["in_flight"] == 0


async def test_force_open_closed_and_auto_is_audited(with_routing: Harness) -> None:
    assert with_routing.deps.routing is not None
    breaker = with_routing.deps.routing.breaker
    async with with_routing.client() as master:
        opened = await master.post(f"/admin/providers/{FIRST}/breaker", json={"state": "open"})
        assert opened.status_code == 200, opened.text
        assert (opened.json()["breaker"], opened.json()["forced"]) == ("open", "open")
        assert await breaker.allow(FIRST) is None  # the router skips it now
        closed = (
            await master.post("/admin/providers/chat%2Ffirst%2Fmodel/breaker", json={"state": "closed"})
        ).json()
        assert (closed["breaker"], closed["forced"]) == ("closed", "closed")
        for _ in range(3):
            await breaker.record(FIRST, success=False)
        assert await breaker.allow(FIRST) is not None  # pinned closed: failures change nothing
        auto = (await master.post(f"/admin/providers/{FIRST}/breaker", json={"state": "auto"})).json()
        assert (auto["breaker"], auto["forced"], auto["failures"]) == ("closed", None, 0)
        audit = (await master.get("/admin/audit?event_type=breaker.forced")).json()
        assert [r["details"]["state"] for r in audit] == ["auto", "closed", "open"]
        assert_openai_error(
            await master.post("/admin/providers/chat/nope/model/breaker", json={"state": "open"}), 404
        )
        error = assert_openai_error(
            await master.post(f"/admin/providers/{FIRST}/breaker", json={"state": "half_open"}), 422
        )
        assert error["param"] == "state"
        assert_openai_error(await master.post(f"/admin/providers/{FIRST}/breaker", content=b"{"), 422)


async def test_only_global_admins_see_or_force_breakers(with_routing: Harness) -> None:
    async with with_routing.client() as master:
        red = await make_tenant(master, "red")
    for key in (red.admin_key, red.alice_key):
        async with with_routing.client(key) as client:
            assert_openai_error(await client.get("/admin/providers"), 403)
            assert_openai_error(
                await client.post(f"/admin/providers/{FIRST}/breaker", json={"state": "open"}), 403
            )


async def test_without_routing_the_endpoints_say_so(harness: Harness, master: httpx.AsyncClient) -> None:
    assert_openai_error(await master.get("/admin/providers"), 503, "not_configured")


async def test_a_breaker_forced_through_one_process_is_forced_for_another(tmp_path: Path) -> None:
    prefix = f"alfred-test:admin:{tmp_path.name}:"
    one, two = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    admin = await open_harness(tmp_path, routing=routing(RedisBreakerStore(one, prefix)))
    elsewhere = CircuitBreaker(RedisBreakerStore(two, prefix), POLICY)  # another gateway's breaker
    try:
        async with admin.client() as master:
            await master.post(f"/admin/providers/{FIRST}/breaker", json={"state": "open"})
            assert await elsewhere.allow(FIRST) is None
            assert (await elsewhere.state(FIRST)).forced
            await master.post(f"/admin/providers/{FIRST}/breaker", json={"state": "auto"})
            assert await elsewhere.allow(FIRST) is not None
    finally:
        await admin.close()
        keys = [k async for k in one.scan_iter(match=prefix + "*")]
        if keys:
            await one.delete(*keys)
        await one.aclose()
        await two.aclose()
