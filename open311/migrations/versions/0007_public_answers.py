"""each report's public answer (JSON and XML), rendered when it changes

Existing rows keep NULL and are rendered when read, until their next change.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("service_request", sa.Column("public_json", sa.Text(), nullable=True))
    op.add_column("service_request", sa.Column("public_xml", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_request") as batch:
        batch.drop_column("public_xml")
        batch.drop_column("public_json")
