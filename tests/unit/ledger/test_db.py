from __future__ import annotations

import pytest

from alfred.state.db import Database


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite://"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    # Every pooled connection would see its own empty database.
    with pytest.raises(ValueError, match="file path"):
        Database.connect(url)


async def test_sqlite_writer_is_a_single_connection(tmp_path: object) -> None:
    db = Database.connect(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    try:
        assert db.dialect == "sqlite"
        assert db.writer is not db.reader
        assert db.writer.pool.size() == 1  # type: ignore[attr-defined]
    finally:
        await db.dispose()


async def test_a_connection_returned_inside_a_raw_transaction_is_rolled_back(tmp_path: object) -> None:
    # The writer skips the pool's blanket rollback-on-return; a transaction begun on the driver
    # connection and not ended must still be rolled back before the next checkout.
    db = Database.connect(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    try:
        async with db.writer.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            await driver.execute("CREATE TABLE t (x INTEGER)")
            await driver.execute("BEGIN IMMEDIATE")
            await driver.execute("INSERT INTO t VALUES (1)")
            assert driver.in_transaction
        async with db.writer.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            assert not driver.in_transaction
            rows = await driver.execute_fetchall("SELECT count(*) FROM t")
            assert list(rows) == [(0,)]
        async with db.transaction() as session:  # and the ORM's BEGIN IMMEDIATE still works on it
            await session.connection()
    finally:
        await db.dispose()
