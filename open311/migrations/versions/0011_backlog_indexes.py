"""partial indexes of the backlog: the deliveries not yet done, and the open reports

What the delivery worker reads over and over should cost what is waiting, not the whole
history. Without these, at 1,000,000 delivered reports:

- a claim (one destination's due deliveries, in order) walked every delivery the
  destination ever had by ix_delivery_backend, holding SQLite's write lock, and the POSTs
  waited behind it;
- a status sync round (the back-end ids of the open reports and those closed within 30
  days) read every done delivery and looked up its report: 33 s a round on SQLite.

Each index holds only the backlog's rows; the queries write the state values into their
SQL, which is how the databases can tell that a partial index applies.

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
UNDELIVERED = sa.text("state IN ('pending', 'inflight')")
OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_index(
        "ix_delivery_open",
        "delivery",
        ["destination", "next_attempt_at", "id"],
        sqlite_where=UNDELIVERED,
        postgresql_where=UNDELIVERED,
    )
    op.create_index(
        "ix_request_open", "service_request", ["id"], sqlite_where=OPEN, postgresql_where=OPEN
    )


def downgrade() -> None:
    op.drop_index("ix_request_open", table_name="service_request")
    op.drop_index("ix_delivery_open", table_name="delivery")
