"""staff users and internal notes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:59:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import open311.db  # noqa: F401  (column types)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "staff_user",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("agency", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", open311.db.UTCDateTime(), nullable=False),
        sa.Column("disabled_at", open311.db.UTCDateTime(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", open311.db.UTCDateTime(), nullable=True),
        sa.Column("last_login_at", open311.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "staff_note",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("request_id", BIG_ID, nullable=False),
        sa.Column("agency", sa.String(length=100), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", open311.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["service_request.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_note_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_note_request_id"))
    op.drop_table("staff_note")
    op.drop_table("staff_user")
