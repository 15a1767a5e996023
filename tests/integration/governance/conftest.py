"""Fixtures for governance through real gateway processes: a ledger database per module (a SQLite file,
or a fresh PostgreSQL database), the test's own handle on that ledger to seed users and keys and to read
the books, and helpers to poll it.

The gateways run ``tests/fixtures/configs/governance.yaml``; they migrate the database as they start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from alfred.ledger import Ledger, LedgerSettings, UserInfo
from alfred.ledger.tables import LedgerEntry, LedgerTransaction, Reservation
from alfred.state.db import migrate
from tests.integration.ledger.conftest import PG_URL, _create_database, _drop_database, _in_thread

CONFIG = "tests/fixtures/configs/governance.yaml"
MASTER_KEY = "sk-alfred-governance-master"  # pragma: allowlist secret
KEY_SECRET = "governance-tests-key-hash-secret"  # pragma: allowlist secret; the config's default
TOKEN_PRICE = 1_000  # micro-credits per output token of the `metered` model


def gateway_env(mock_url: str, db_url: str, *, leases: bool = False, **extra: str) -> dict[str, str]:
    return {
        "ALFRED_MOCK_URL": mock_url,
        "ALFRED_TEST_DB_URL": db_url,
        "ALFRED_MASTER_KEY": MASTER_KEY,
        "ALFRED_TEST_LEASES": "true" if leases else "false",
        **extra,
    }


LEASE_ROW = "lease:%"


@dataclass
class Member:
    """A user with a personal wallet and an API key."""

    user: UserInfo
    key: str

    @property
    def wallet_id(self) -> int:
        assert self.user.wallet_id is not None
        return self.user.wallet_id


class Books:
    """The test's view of the ledger the gateways write: seeding, reading, and polling it."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def member(self, email: str, quota: int, *, hard_limit: int = 0) -> Member:
        info = await self.ledger.directory.create_user(
            email, email.split("@")[0], personal_quota=quota, hard_limit=hard_limit
        )
        created = await self.ledger.keys.create(info.id, "test")
        return Member(info, created.key)

    async def wallet(self, wallet_id: int) -> tuple[int, int]:
        info = await self.ledger.accounts.get(wallet_id)
        return info.balance, info.reserved

    async def wallet_at_rest(self, wallet_id: int, *, deadline_s: float = 30.0) -> tuple[int, int]:
        """The wallet once no gateway holds a credit lease on it (an idle lease is returned within
        about ``ttl_s`` / 3 twice; with leases off there is none and this is ``wallet``)."""

        async def no_lease() -> bool:
            return "open" not in (await self.leases(wallet_id)).values()

        await until(no_lease, deadline_s=deadline_s, what=f"the leases on wallet {wallet_id} are returned")
        return await self.wallet(wallet_id)

    async def leases(self, wallet_id: int) -> dict[str, str]:
        """The credit lease rows on a wallet and their states."""
        async with self.ledger.db.session() as session:
            rows = await session.execute(
                select(Reservation.request_id, Reservation.state).where(
                    Reservation.wallet_id == wallet_id, Reservation.request_id.like(LEASE_ROW)
                )
            )
            return {rid: state for rid, state in rows.all()}

    async def reservations(self, user_id: int) -> dict[str, str]:
        async with self.ledger.db.session() as session:
            rows = await session.execute(
                select(Reservation.request_id, Reservation.state).where(Reservation.user_id == user_id)
            )
            return {rid: state for rid, state in rows.all()}

    async def charges(self, wallet_id: int) -> list[LedgerTransaction]:
        async with self.ledger.db.session() as session:
            rows = await session.execute(
                select(LedgerTransaction)
                .where(
                    LedgerTransaction.wallet_id == wallet_id,
                    LedgerTransaction.type.in_(("charge", "cache_hit")),
                )
                .order_by(LedgerTransaction.created_at)
            )
            return list(rows.scalars())

    async def entry_sum(self, wallet_id: int) -> int:
        async with self.ledger.db.session() as session:
            total = await session.execute(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                    LedgerEntry.wallet_id == wallet_id
                )
            )
            return int(total.scalar_one())

    async def lowest_balance(self, wallet_id: int) -> int:
        async with self.ledger.db.session() as session:
            low = (
                await session.execute(
                    select(func.min(LedgerEntry.balance_after)).where(LedgerEntry.wallet_id == wallet_id)
                )
            ).scalar_one()
        assert low is not None, f"wallet {wallet_id} has no entries"
        return int(low)


@pytest.fixture(scope="module", params=[False, True], ids=["per-request", "leases"])
def leases(request: pytest.FixtureRequest) -> bool:
    """Whether the module's gateways hold credit leases (``governance.ledger.leases``)."""
    return bool(request.param)


async def until(check: Callable[[], Awaitable[bool]], *, deadline_s: float = 30.0, what: str = "") -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s}s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('governance') / 'ledger.db'}"


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards (PostgreSQL must be running)."""
    name = f"alfred_governance_{uuid.uuid4().hex[:12]}"
    _in_thread(_create_database(name))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _in_thread(_drop_database(name))


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this module."""
    with fresh_postgres() as url:
        yield url


@pytest.fixture(scope="module")
async def books(db_url: str) -> AsyncIterator[Books]:
    """The ledger at the module's ``db_url`` (each test module says which database it runs on)."""
    await migrate(db_url)  # the gateways migrate as they start as well; whoever is first does it
    ledger = Ledger.build(LedgerSettings(database_url=db_url, pool_size=5), key_secret=KEY_SECRET)
    try:
        yield Books(ledger)
    finally:
        await ledger.close()
