"""following reports: app updates, the service type kept per report, imported rows' source

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import open311.db  # noqa: F401  (column types)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "app_update",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("request_id", BIG_ID, nullable=False),
        sa.Column("api_key_id", BIG_ID, nullable=False),
        sa.Column("client_key", sa.String(length=220), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("detailed_status", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column("updated_datetime", open311.db.UTCDateTime(), nullable=False),
        sa.Column("public_comment", sa.Boolean(), nullable=False),
        sa.Column("public_status", sa.Boolean(), nullable=False),
        sa.Column("created_at", open311.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_key.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["service_request.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
        sa.UniqueConstraint("api_key_id", "client_key", name="uq_app_update_key"),
    )
    with op.batch_alter_table("app_update", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_update_request_id"), ["request_id"], unique=False)
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_update_id", BIG_ID, nullable=True))
        batch_op.create_foreign_key(
            "fk_delivery_app_update_id", "app_update", ["app_update_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("service_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_type", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("source_key", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint("uq_service_request_source_key", ["source_key"])


def downgrade() -> None:
    with op.batch_alter_table("service_request", schema=None) as batch_op:
        batch_op.drop_constraint("uq_service_request_source_key", type_="unique")
        batch_op.drop_column("source_key")
        batch_op.drop_column("service_type")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_constraint("fk_delivery_app_update_id", type_="foreignkey")
        batch_op.drop_column("app_update_id")
    with op.batch_alter_table("app_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_update_request_id"))
    op.drop_table("app_update")
