"""updates for the reporter: the opt-in and page language with the contact, and outbox rows
that carry a notification of one status change

The opt-in lives in reporter_contact, so the retention purge that deletes the contact ends
the notifications with it. A notification's outbox row points at the change it announces
(request_update_id); its idempotency_key (unique already) is the change and the channel.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("reporter_contact") as batch:
        batch.add_column(
            sa.Column("notify_email", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("notify_sms", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("request_update_id", BigId, nullable=True))
        batch.create_foreign_key(
            "fk_delivery_request_update_id",
            "request_update",
            ["request_update_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_constraint("fk_delivery_request_update_id", type_="foreignkey")
        batch.drop_column("request_update_id")
    with op.batch_alter_table("reporter_contact") as batch:
        batch.drop_column("language")
        batch.drop_column("notify_sms")
        batch.drop_column("notify_email")
