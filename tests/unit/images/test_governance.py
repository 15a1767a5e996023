"""Governance on the Images API: real keys through the gateway's Authenticator, the safety policy on
prompts, and every image held, settled or released through a real Ledger on a temporary SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from alfred.api.images import (
    JOBS_PREFIX,
    ImageGenerationsEndpoint,
    ImageJobsEndpoint,
    authenticated_caller,
)
from alfred.api.routes import PathRouter, wrap_outer
from alfred.errors import AlfredError
from alfred.governance.authenticator import Authenticator
from alfred.governance.settings import AuthSettings
from alfred.images.build import ImageRuntime, build_image_service
from alfred.images.charges import ImageCharges
from alfred.images.prompt_safety import ImagePromptSafety
from alfred.ledger import Ledger, LedgerSettings
from alfred.ledger.money import usd_to_micros
from alfred.ledger.tables import Reservation, Wallet
from alfred.safety.settings import SafetySettings
from alfred.schema.images import GenerationSpec
from alfred.state import memory_backend
from alfred.state.db import migrate
from tests.unit.images.fakes import FakeBackends, MemoryBlobStore
from tests.unit.images.harness import image_settings, until

QUOTA = usd_to_micros("0.01")  # four images at the fallback price can be held, five cannot
PRIMARY = usd_to_micros("0.001")  # the route's price per image (tests.unit.images.harness.BASE)
WORST = usd_to_micros("0.0023")  # the dearer route, held up front per image


def refuse_doomed(spec: GenerationSpec) -> AlfredError | None:
    if "doomed" in spec.prompt:
        return AlfredError("this backend cannot draw doom", code="bad_prompt", status=422, retryable=False)
    return None


@dataclass
class World:
    client: httpx.AsyncClient
    ledger: Ledger
    runtime: ImageRuntime
    keys: dict[str, str]
    wallets: dict[str, int]
    gate: asyncio.Event

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[who]}"}

    async def post(self, who: str, **body: Any) -> httpx.Response:
        return await self.client.post("/v1/images/generations", json=body, headers=self.auth(who))

    async def wallet(self, who: str) -> tuple[int, int]:
        """(balance, reserved) of someone's personal wallet."""
        async with self.ledger.db.session() as session:
            row = await session.get(Wallet, self.wallets[who])
            assert row is not None
            return row.balance, row.reserved

    async def reservations(self, state: str | None = None) -> int:
        query = select(func.count()).select_from(Reservation)
        if state is not None:
            query = query.where(Reservation.state == state)
        async with self.ledger.db.session() as session:
            return int((await session.execute(query)).scalar_one())


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    await migrate(url)
    ledger = Ledger.build(LedgerSettings(database_url=url), key_secret="test-secret-of-at-least-16-bytes")
    core = await ledger.directory.create_team("core", common_pool=0)
    other = await ledger.directory.create_team("other", common_pool=0)
    users = {
        "alice": await ledger.directory.create_user(
            "a@core.io", "Alice", team_id=core.id, personal_quota=QUOTA
        ),
        "bob": await ledger.directory.create_user("b@core.io", "Bob", team_id=core.id, personal_quota=QUOTA),
        "carol": await ledger.directory.create_user(
            "c@other.io", "Carol", team_id=other.id, personal_quota=QUOTA
        ),
    }
    keys = {name: (await ledger.keys.create(user.id, "images")).key for name, user in users.items()}
    wallets = {name: user.wallet_id for name, user in users.items() if user.wallet_id is not None}
    gate = asyncio.Event()
    gate.set()
    settings = image_settings(cache={"enabled": False})
    charges = ImageCharges(settings, ledger.wallets, ledger.governance)
    blobs = MemoryBlobStore()
    runtime = build_image_service(
        settings,
        blobs=blobs,
        state=memory_backend(),
        backend_factories={"fake": FakeBackends(gate=gate, fail_when=refuse_doomed)},
        charge=charges.settle,
        release=charges.release,
        consumer="test",
    )
    caller_of = authenticated_caller(
        Authenticator(AuthSettings(), ledger.keys, directory=ledger.directory).authenticate
    )
    generations = ImageGenerationsEndpoint(
        runtime.service,
        blobs,
        1024 * 1024,
        caller_of,
        safety=ImagePromptSafety(SafetySettings()),
        charges=charges,
    )
    jobs = ImageJobsEndpoint(runtime.service, caller_of)
    app = wrap_outer(
        PathRouter(
            {("POST", "/v1/images/generations"): generations},
            [(method, JOBS_PREFIX, jobs) for method in ("GET", "DELETE")],
        ),
        [],
    )
    await runtime.start()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as client:
        yield World(client, ledger, runtime, keys, wallets, gate)
    await runtime.stop(grace_s=1)
    await ledger.close()


async def test_a_request_without_a_valid_key_is_refused(world: World) -> None:
    missing = await world.client.post("/v1/images/generations", json={"prompt": "a sword"})
    forged = await world.client.post(
        "/v1/images/generations",
        json={"prompt": "a sword"},
        headers={"authorization": "Bearer sk-alfred-nope"},
    )
    for response in (missing, forged):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert await world.reservations() == 0


async def test_each_image_is_held_then_charged_at_the_route_price(world: World) -> None:
    response = await world.post("alice", prompt="a fire sword", n=2)
    assert response.status_code == 200, response.text
    assert response.headers["x-alfred-route"] == "primary"

    async def settled() -> bool:  # the worker settles right after it marks the job succeeded
        return await world.reservations("settled") == 1

    await until(settled, deadline_s=10)
    assert await world.wallet("alice") == (QUOTA - 2 * PRIMARY, 0)
    async with world.ledger.db.session() as session:
        hold = (await session.execute(select(Reservation))).scalar_one()
    assert hold.amount == 2 * WORST and hold.charged == 2 * PRIMARY  # held the worst case, charged the route
    assert hold.request_id.endswith(response.headers["x-alfred-job-id"])


async def test_jobs_belong_to_the_team(world: World) -> None:
    job_id = (await world.post("alice", prompt="an ice bow", wait=0)).headers["x-alfred-job-id"]
    teammate = await world.client.get(JOBS_PREFIX + job_id, headers=world.auth("bob"))
    stranger = await world.client.get(JOBS_PREFIX + job_id, headers=world.auth("carol"))
    assert teammate.status_code == 200 and teammate.json()["id"] == job_id
    assert stranger.status_code == 404


async def test_a_prompt_carrying_a_secret_is_blocked_before_anything_is_held(world: World) -> None:
    response = await world.post("alice", prompt="a sword engraved with AKIAIOSFODNN7EXAMPLE")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "content_policy_violation" and error["param"] == "prompt"
    assert "AKIA" not in error["message"]
    assert await world.reservations() == 0 and await world.wallet("alice") == (QUOTA, 0)


async def test_a_request_the_wallet_cannot_cover_is_refused_with_no_job(world: World) -> None:
    response = await world.post("alice", prompt="a storm axe", n=5)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_quota"
    assert "x-alfred-job-id" not in response.headers
    assert await world.wallet("alice") == (QUOTA, 0)
    assert dict(world.runtime.service.recorder.finished) == {}


async def test_a_failed_job_releases_its_hold(world: World) -> None:
    response = await world.post("alice", prompt="a doomed blade")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "bad_prompt"

    async def released() -> bool:
        return await world.reservations("released") == 1

    await until(released, deadline_s=10)
    assert await world.wallet("alice") == (QUOTA, 0)


async def test_a_cancelled_job_releases_its_hold(world: World) -> None:
    world.gate.clear()  # the backend holds every generation
    job_id = (await world.post("bob", prompt="a void dagger", wait=0)).headers["x-alfred-job-id"]
    assert (await world.wallet("bob"))[1] == WORST  # held while it waits
    cancelled = await world.client.delete(JOBS_PREFIX + job_id, headers=world.auth("bob"))
    assert cancelled.json()["status"] == "cancelled"

    async def released() -> bool:
        return await world.reservations("released") == 1

    await until(released, deadline_s=10)
    world.gate.set()
    assert await world.wallet("bob") == (QUOTA, 0)


async def test_who_owns_jobs_and_who_pays() -> None:
    from alfred.api.images import Caller, tenant_of
    from alfred.pipeline.call import Identity

    member = Identity(key_id="3", user_id="7", team_id="2", priority=True, kind="key")
    loner = Identity(key_id="4", user_id="8", kind="key")
    master = Identity(key_id="master", is_admin=True, kind="master")
    assert [tenant_of(i) for i in (member, loner, master, Identity())] == [
        "team:2",
        "user:8",
        "key:master",
        "anonymous",
    ]
    payer = Caller("team:2", identity=member, client_ip="10.0.0.1").payer()
    assert payer is not None and (payer.user_id, payer.key_id, payer.priority) == (7, 3, True)
    assert Caller("key:master", identity=master).payer() is None  # no wallet: nothing is held
    assert Caller("anonymous").payer() is None


async def test_privacy_mode_follows_the_header(world: World) -> None:
    headers = {**world.auth("alice"), "x-alfred-privacy": "strict"}
    response = await world.client.post(
        "/v1/images/generations", json={"prompt": "a secret weapon design", "wait": 0}, headers=headers
    )
    job = await world.runtime.service.get("team:1", response.headers["x-alfred-job-id"])
    assert job.privacy
