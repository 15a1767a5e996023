"""Schemathesis against the admin API, driven by its own OpenAPI document (/admin/openapi.json).

The admin app runs under uvicorn in a thread, over a real ledger on a temporary SQLite file with two
teams in it, in-memory breakers, an image pipeline and the response caches, and the gateway's request-id middleware in
front (as the gateway mounts it). Every
operation gets generated requests, valid and invalid, with the master key: each answer must be
documented (status, content type, body schema), never a 5xx, every error an OpenAI error object
carrying the request id, and every invalid request refused with a 4xx. As in the data-plane fuzz,
positive-data acceptance is left out: the document cannot state cross-field rules (an amount finer
than one micro-credit, a user id that exists), so valid-looking requests may still be refused.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from alfred.api.admin import build_admin_app
from alfred.api.middleware.request_id import RequestIDMiddleware
from alfred.cache.build import build_caches
from alfred.cache.settings import CacheSettings
from alfred.state.memory import MemoryBreakerStore
from tests.integration.admin.harness import MASTER_KEY, Harness, open_harness
from tests.integration.admin.test_providers import routing
from tests.security.test_fuzz_api import assert_openai_error
from tests.servers import free_port, wait_http
from tests.unit.images.harness import image_settings, running

MAX_EXAMPLES = 30  # per operation and run


def _serve(directory: Path, port: int, ready: threading.Event, stop: threading.Event) -> None:
    async def main() -> None:
        async with running(image_settings(), start=False) as images:
            caches = build_caches(CacheSettings(enabled=True))
            await serve(
                await open_harness(
                    directory, routing=routing(MemoryBreakerStore()), images=images.runtime, caches=caches
                )
            )

    async def serve(harness: Harness) -> None:
        config = uvicorn.Config(
            RequestIDMiddleware(harness.app), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        ready.set()
        while not stop.is_set() and not task.done():
            await asyncio.sleep(0.05)
        server.should_exit = True
        await task
        await harness.close()

    asyncio.run(main())


@pytest.fixture(scope="module")
def admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=_serve, args=(tmp_path_factory.mktemp("fuzz"), port, ready, stop), daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        assert ready.wait(30), "the admin app did not start"
        wait_http(f"{url}/admin/openapi.json")
        _seed(url)
        yield url
    finally:
        stop.set()
        thread.join(30)


def _seed(url: str) -> None:
    """Two teams with members, keys and a pending approval, so generated small ids find real rows."""
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=url, headers=auth, timeout=30) as master:
        for name in ("red", "blue"):
            team = master.post("/admin/teams", json={"name": name, "common_pool": "100"}).json()
            for who in ("admin", "alice"):
                user = master.post(
                    "/admin/users",
                    json={"email": f"{who}@{name}.io", "name": who, "team_id": team["id"], "personal_quota": "5",
                          "team_role": "admin" if who == "admin" else "member"},
                ).json()  # fmt: skip
                key = master.post("/admin/keys", json={"user_id": user["id"]}).json()["key"]
            with httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30) as alice:
                assert alice.post("/v1/me/approvals", json={"amount": 1}).status_code == 201


@pytest.fixture(scope="module")
def admin_schema(admin_url: str) -> Any:
    document = httpx.get(f"{admin_url}/admin/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=admin_url, request_timeout=30)
    return schema


def _operations() -> list[str]:
    paths = build_admin_app(None).openapi()["paths"]
    return [f"{method.upper()} {path}" for path, item in paths.items() for method in item]


@pytest.mark.parametrize("operation", _operations())
def test_every_admin_answer_is_documented_and_no_5xx(admin_schema: Any, operation: str) -> None:
    method, path = operation.split(" ", 1)
    api_operation = admin_schema[path][method]
    cases = st.one_of(
        api_operation.as_strategy(GenerationMode.POSITIVE), api_operation.as_strategy(GenerationMode.NEGATIVE)
    )
    auth = {"authorization": f"Bearer {MASTER_KEY}"}

    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=cases)
    def call(case: Any) -> None:
        response = case.call_and_validate(headers=auth, excluded_checks=[positive_data_acceptance])
        assert_openai_error(path, response)

    call()
