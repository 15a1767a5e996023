"""The admin app over a real ledger on a temporary SQLite file, driven in-process through httpx.

``authenticate`` is built from the ledger's own key check plus a master key (what the auth stage's
authenticator does, minus its cache), so these tests need no gateway process.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from alfred.api.admin import AdminDeps, build_admin_app
from alfred.cache.build import Caches
from alfred.errors import AuthenticationError
from alfred.governance.authenticator import credential, key_identity
from alfred.images.build import ImageRuntime
from alfred.ledger import Ledger, LedgerSettings
from alfred.pipeline.call import Identity
from alfred.routing.build import Routing
from alfred.state.db import migrate

MASTER_KEY = "sk-admin-tests-master-key-0123456789"  # pragma: allowlist secret (a test fixture)
KEY_SECRET = "admin-tests-secret-of-16-bytes-or-more"  # pragma: allowlist secret (a test fixture)
BASE_URL = "http://alfred.test"


def authenticator(ledger: Ledger, master_key: str) -> Any:
    async def authenticate(headers: Mapping[str, str]) -> Identity:
        presented = credential(headers)
        if not presented:
            raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
        if hmac.compare_digest(presented.encode(), master_key.encode()):
            return Identity(key_id="master", is_admin=True, kind="master")
        found = await ledger.keys.authenticate(presented)
        if found is None:
            raise AuthenticationError("invalid API key")
        return key_identity(found)

    return authenticate


@dataclass
class Harness:
    """A ledger, the admin app over it, and the key ids it reported revoked."""

    ledger: Ledger
    deps: AdminDeps
    revoked: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = build_admin_app(self.deps)

    def client(self, key: str | None = MASTER_KEY) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {key}"} if key is not None else {}
        transport = httpx.ASGITransport(app=self.app, client=("203.0.113.7", 5555))
        return httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers, timeout=30)

    async def close(self) -> None:
        await self.ledger.close()


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'ledger.db'}"


async def open_harness(
    directory: Path,
    *,
    routing: Routing | None = None,
    images: ImageRuntime | None = None,
    caches: Caches | None = None,
    url: str | None = None,
) -> Harness:
    """The app over a fresh SQLite ledger in ``directory``, or over ``url`` (already migrated and empty)."""
    if url is None:
        url = sqlite_url(directory)
        await migrate(url)
    ledger = Ledger.build(LedgerSettings(database_url=url), key_secret=KEY_SECRET)
    revoked: list[int] = []
    deps = AdminDeps(
        ledger=ledger,
        authenticate=authenticator(ledger, MASTER_KEY),
        on_key_revoked=revoked.append,
        routing=routing,
        images=images,
        caches=caches,
    )
    return Harness(ledger, deps, revoked)


@dataclass(frozen=True)
class Tenant:
    """A team with a pool, a team admin, two members, and a key for each of them."""

    team: dict[str, Any]
    admin: dict[str, Any]
    alice: dict[str, Any]
    bob: dict[str, Any]
    admin_key: str
    alice_key: str
    bob_key: str


async def make_tenant(
    master: httpx.AsyncClient, name: str, *, pool: str = "100", quota: str = "10"
) -> Tenant:
    """Everything created through the admin API itself, as an operator would."""

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await master.post(path, json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    team = await post("/admin/teams", {"name": name, "common_pool": pool})
    admin = await post(
        "/admin/users",
        {"email": f"admin@{name}.io", "name": "Admin", "team_id": team["id"], "is_admin": True,
         "personal_quota": quota},
    )  # fmt: skip
    alice = await post(
        "/admin/users",
        {"email": f"alice@{name}.io", "name": "Alice", "team_id": team["id"], "personal_quota": quota},
    )
    bob = await post(
        "/admin/users",
        {"email": f"bob@{name}.io", "name": "Bob", "team_id": team["id"], "personal_quota": quota},
    )
    keys = [
        (await post("/admin/keys", {"user_id": u["id"], "name": "k"}))["key"] for u in (admin, alice, bob)
    ]
    return Tenant(team, admin, alice, bob, *keys)


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is ``status`` with an OpenAI error object (and ``code`` when given); returns the object."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert "param" in error and "code" in error
    if code is not None:
        assert error["code"] == code, error
    return error
