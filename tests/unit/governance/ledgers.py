"""Real ledgers on temporary SQLite files for the auth tests, and clocks the tests move by hand.

Migrating takes about a second, so each test module migrates one template file and every test opens
a copy of it.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alfred.ledger import Ledger, LedgerSettings
from alfred.state.db import migrate

KEY_SECRET = "unit-test-key-hash-secret-0123456789"  # pragma: allowlist secret


class WallClock:
    """The ledger's clock (key expiry), moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Monotonic:
    """The authenticator's cache clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def url_of(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def migrated_template(directory: Path) -> Path:
    """A freshly migrated ledger file (migrated on a thread of its own: a test loop may be running)."""
    path = directory / "template.db"
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, migrate(url_of(path))).result()
    return path


@asynccontextmanager
async def open_ledger(template: Path, directory: Path, clock: WallClock) -> AsyncIterator[Ledger]:
    path = directory / "ledger.db"
    shutil.copyfile(template, path)
    ledger = Ledger.build(LedgerSettings(database_url=url_of(path)), key_secret=KEY_SECRET, clock=clock)
    try:
        yield ledger
    finally:
        await ledger.close()
