"""the partial index of the deliveries not yet done, which a worker claims from

A claim asks for one destination's due rows in order. Without statistics SQLite took
ix_delivery_backend (destination, backend_id) for it and walked every delivery the
destination ever had, holding the write lock: at 1,000,000 delivered reports a claim took
most of a second and the POSTs waited behind it. This index holds only the pending and
in-flight rows, in the order they are claimed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:42:09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Copied, not imported from the models: a migration must do tomorrow what it does today.
OPEN = sa.text("state IN ('pending', 'inflight')")


def upgrade() -> None:
    op.create_index(
        "ix_delivery_open",
        "delivery",
        ["destination", "next_attempt_at", "id"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_open", table_name="delivery")
