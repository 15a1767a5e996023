"""Fixtures for the admin API tests: a fresh ledger and app per test, on SQLite and on PostgreSQL.

PostgreSQL is the ledger suite's (``tests/integration/ledger/conftest.py``): a database created for the
session, migrated, emptied before each test and dropped at the end; unreachable PostgreSQL fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.integration.admin.harness import Harness, open_harness
from tests.integration.ledger.conftest import _empty_postgres, pg_url

__all__ = ["pg_url"]  # the session database fixture, shared with the ledger suite


@pytest.fixture(params=["sqlite", "postgresql"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        await _empty_postgres(url)
    built = await open_harness(tmp_path, url=url)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def master(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with harness.client() as client:
        yield client
