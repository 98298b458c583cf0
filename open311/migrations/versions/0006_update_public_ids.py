"""an opaque public id per status update, for the servicerequestupdates feed

The feed numbered its entries with the table's own sequence, which counts the updates of
private reports too: the gaps between two public entries told how many private updates
were made in between, and when. Existing rows get a random id here (a feed reader sees
each existing entry once more under its new id after the upgrade).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 08:00:00
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("request_update", sa.Column("public_id", sa.String(length=32), nullable=True))
    table = sa.table("request_update", sa.column("id"), sa.column("public_id"))
    connection = op.get_bind()
    ids = connection.execute(sa.select(table.c.id)).scalars().all()
    for row_id in ids:
        connection.execute(
            table.update().where(table.c.id == row_id).values(public_id=secrets.token_hex(8))
        )
    with op.batch_alter_table("request_update", schema=None) as batch_op:
        batch_op.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index("ix_request_update_public_id", ["public_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("request_update", schema=None) as batch_op:
        batch_op.drop_index("ix_request_update_public_id")
        batch_op.drop_column("public_id")
