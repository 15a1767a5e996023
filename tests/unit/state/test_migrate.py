"""``migrate()`` leaves a database already at the head revision alone, without loading Alembic, and
knows the head revision from the shipped scripts' text: both checked against Alembic's own answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from alfred.state import db as db_module
from alfred.state.db import MIGRATIONS, Database, migrate, script_head, stamped


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    assert script_head() == ScriptDirectory.from_config(config).get_current_head()


@pytest.mark.parametrize(
    ("text_", "expected"),
    [
        (
            'revision: str = "0002"\ndown_revision: str | None = "0001"\n',
            [("revision", "0002", ""), ("down_revision", "0001", "")],
        ),
        (
            "revision = '0001'\ndown_revision = None\n",
            [("revision", "0001", ""), ("down_revision", "", "None")],
        ),
        (
            'revision = "0003"\ndown_revision = ("0001", "0002")\n',
            [("revision", "0003", "")],
        ),  # a merge: no match
    ],
)
def test_script_fields(text_: str, expected: list[tuple[str, str, str]]) -> None:
    assert db_module._SCRIPT_FIELD.findall(text_) == expected


async def test_a_database_at_head_is_not_migrated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    upgrades: list[str] = []
    real_upgrade = db_module._upgrade

    def counting(connection: Any, config: Any, revision: str) -> None:
        upgrades.append(revision)
        if len(upgrades) == 1:  # later calls only need to be seen
            real_upgrade(connection, config, revision)

    monkeypatch.setattr(db_module, "_upgrade", counting)
    db = Database.connect(url)
    try:
        assert await stamped(db) is None  # no alembic_version table yet
        await migrate(url)
        assert upgrades == ["head"] and await stamped(db) == {script_head()}
        await migrate(url)
        assert upgrades == ["head"]  # at head: Alembic was not asked
        async with db.transaction() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = 'older'"))
        await migrate(url)  # a stamp that is not the head goes through Alembic again
        assert len(upgrades) == 2
    finally:
        await db.dispose()
