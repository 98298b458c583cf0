"""photos sent as files

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import open311.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("small_key", sa.String(length=100), nullable=False),
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("created_at", open311.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["service_request.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key"),
        sa.UniqueConstraint("small_key"),
    )
    op.create_index("ix_media_request_id", "media", ["request_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_media_request_id", table_name="media")
    op.drop_table("media")
