"""How the SQL database is reached and tuned: the parts of ``alfred.state.db`` that config needs.

Kept apart from ``db`` so that loading the config (and ``alfred --help``) does not import SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_URL = "sqlite+aiosqlite:///./data/alfred.db"

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


@dataclass(frozen=True, slots=True)
class DatabaseOptions:
    """Pool and SQLite tuning; the defaults suit one gateway process."""

    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout_s: float = 30.0
    busy_timeout_ms: int = 10_000
    # NORMAL in WAL mode survives a killed process (the kill -9 invariant); only an OS crash or power
    # loss can lose the last commits. FULL closes that too, at an fsync per commit.
    sqlite_synchronous: Synchronous = "NORMAL"
    echo: bool = False
