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
