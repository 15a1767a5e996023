"""Reservations may be credit leases: ``source`` also allows ``lease`` (``alfred.ledger.leases``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ck_reservations_source"


def _source_check(values: tuple[str, ...]) -> None:
    # Batch mode: SQLite rebuilds the table (it cannot alter a CHECK in place); PostgreSQL alters it.
    with op.batch_alter_table("reservations") as batch:
        batch.drop_constraint(op.f(NAME), type_="check")
        batch.create_check_constraint(
            op.f(NAME), sa.text(f"source IN ({', '.join(repr(v) for v in values)})")
        )


def upgrade() -> None:
    _source_check(("personal", "team", "vacation", "direct", "lease"))


def downgrade() -> None:
    op.execute("UPDATE reservations SET source = 'direct' WHERE source = 'lease'")
    _source_check(("personal", "team", "vacation", "direct"))
