"""GET /admin/cache and POST /admin/cache/flush over real caches and a real cache stage (memory state)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from alfred.cache.build import Caches, build_caches
from alfred.cache.settings import CacheSettings
from alfred.pipeline import Pipeline
from alfred.pipeline.cache import CacheStage
from alfred.pipeline.metering import MeteredHandler
from alfred.routing.breaker import CircuitBreaker
from alfred.routing.build import Routing
from alfred.routing.catalog import ModelCatalog, ModelGroup
from alfred.routing.dispatch import Dispatcher
from alfred.routing.health import DeploymentHealth
from alfred.routing.router import Router
from alfred.state.memory import MemoryBreakerStore
from tests.integration.admin.harness import Harness, assert_openai_error, make_tenant, open_harness
from tests.integration.admin.test_providers import POLICY
from tests.unit.cache.support import Upstream, chat, finish, make_call
from tests.unit.routing.deployments import deployment
from tests.unit.routing.dispatching import InOrder, ScriptedTransport

SETTINGS = CacheSettings(enabled=True, groups={"nocache": {"enabled": False}})


def routing() -> Routing:
    """A catalog with a chat group and an embeddings group (which the response cache never serves)."""
    groups = [
        ModelGroup(name="chat", kind="chat", deployments=(deployment("first"),)),
        ModelGroup(name="vectors", kind="embeddings", deployments=(deployment("second", group="vectors"),)),
    ]
    router = Router(ModelCatalog(groups), InOrder())
    breaker = CircuitBreaker(MemoryBreakerStore(), POLICY)
    health = DeploymentHealth(min_samples=1)
    return Routing(router, breaker, health, Dispatcher(router, ScriptedTransport(), breaker, health))


class Traffic:
    """Requests through a cache stage over the same caches the admin app serves."""

    def __init__(self, caches: Caches) -> None:
        stage = CacheStage(SETTINGS, caches.exact, generations=caches.generations, counters=caches.counters)
        self.upstream = Upstream()
        self.pipeline = Pipeline([stage], MeteredHandler(self.upstream))

    async def ask(self, text: str, model: str = "gpt-test") -> str | None:
        call = make_call(chat(text, model=model))
        await self.pipeline.run(call)
        await finish(call)
        return call.cache_status


@pytest.fixture
async def cached(tmp_path: Path) -> AsyncIterator[tuple[Harness, Traffic]]:
    caches = build_caches(SETTINGS)
    built = await open_harness(tmp_path, routing=routing(), caches=caches)
    try:
        yield built, Traffic(caches)
    finally:
        await built.close()


def by_group(body: dict[str, object]) -> dict[str, dict[str, object]]:
    groups = body["groups"]
    assert isinstance(groups, list)
    return {g["group"]: g for g in groups}


async def test_lists_groups_with_entries_and_hit_rates(cached: tuple[Harness, Traffic]) -> None:
    harness, traffic = cached
    for text in ("a", "b", "a", "a"):
        await traffic.ask(text)
    await traffic.ask("c", model="other")
    async with harness.client() as master:
        response = await master.get("/admin/cache")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counted_in"] == "this process"
    groups = by_group(body)
    assert sorted(groups) == ["chat", "gpt-test", "other"]  # the catalog's chat group, and those in use
    assert groups["gpt-test"] == {
        "group": "gpt-test",
        "generation": 0,
        "exact_entries": 2,
        "semantic_entries": 0,
        "lookups": 4,
        "exact_hit_rate": 0.5,
        "semantic_hit_rate": 0.0,
    }
    assert (groups["chat"]["exact_entries"], groups["chat"]["exact_hit_rate"]) == (0, None)


async def test_flush_empties_one_group_and_is_audited(cached: tuple[Harness, Traffic]) -> None:
    harness, traffic = cached
    await traffic.ask("a")
    await traffic.ask("c", model="other")
    async with harness.client() as master:
        response = await master.post("/admin/cache/flush", json={"group": "gpt-test"})
        assert response.status_code == 200, response.text
        assert response.json() == {
            "group": "gpt-test",
            "generation": 1,
            "exact_entries_dropped": 1,
            "semantic_entries_dropped": 0,
            "counted_in": "this process",
        }
        groups = by_group((await master.get("/admin/cache")).json())
        assert (groups["gpt-test"]["exact_entries"], groups["gpt-test"]["generation"]) == (0, 1)
        assert groups["other"]["exact_entries"] == 1
        audit = (await master.get("/admin/audit?event_type=cache.flushed")).json()
    assert [(r["details"]["group"], r["details"]["generation"]) for r in audit] == [("gpt-test", 1)]
    assert await traffic.ask("a") == "miss" and await traffic.ask("c", model="other") == "hit"


async def test_flush_refuses_unknown_groups_and_bad_bodies(cached: tuple[Harness, Traffic]) -> None:
    harness, _ = cached
    async with harness.client() as master:
        error = assert_openai_error(await master.post("/admin/cache/flush", json={"group": "nope"}), 404)
        assert error["param"] == "group"
        assert_openai_error(await master.post("/admin/cache/flush", json={"group": "nocache"}), 404)
        assert_openai_error(await master.post("/admin/cache/flush", json={"group": "vectors"}), 404)
        error = assert_openai_error(await master.post("/admin/cache/flush", json={}), 422)
        assert error["param"] == "group"
        assert_openai_error(await master.post("/admin/cache/flush", json={"group": "chat", "x": 1}), 422)
        assert_openai_error(await master.post("/admin/cache/flush", content=b"{"), 422)
        flushed = await master.post("/admin/cache/flush", json={"group": "chat"})  # a catalog group, unused
        assert flushed.status_code == 200 and flushed.json()["generation"] == 1


async def test_only_global_admins_see_or_flush_the_cache(cached: tuple[Harness, Traffic]) -> None:
    harness, _ = cached
    async with harness.client() as master:
        red = await make_tenant(master, "red")
    for key in (red.admin_key, red.alice_key):
        async with harness.client(key) as client:
            assert_openai_error(await client.get("/admin/cache"), 403)
            assert_openai_error(await client.post("/admin/cache/flush", json={"group": "chat"}), 403)
    async with harness.client(None) as anonymous:
        assert_openai_error(await anonymous.get("/admin/cache"), 401)


async def test_with_the_cache_off_the_endpoints_say_so(harness: Harness, master: httpx.AsyncClient) -> None:
    error = assert_openai_error(await master.get("/admin/cache"), 404)
    assert error["message"] == "the cache is off in this deployment"
    assert_openai_error(await master.post("/admin/cache/flush", json={"group": "chat"}), 404)
