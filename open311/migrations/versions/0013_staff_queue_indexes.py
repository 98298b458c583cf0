"""indexes for an agency's queue: its reports newest first, and its deliveries by report

The staff inbox (queue.find_queue) joined the agency's every delivery to its report and
sorted them: at 1,000,000 reports an inbox agency with 137,330 deliveries took 600 ms a
page whatever the filter, most of it reading the reports' wide rows. With these, a page
walks the reports in time order (the open ones in an index of their own) and checks each
for a delivery to the agency in the index, stopping after the page; the open count reads
the open reports only. The open reports' index of 0011 (their ids) is replaced by one in
time order that holds the service too: the sync reads the ids from it as before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Copied, not imported from the models: a migration must do tomorrow what it does today.
OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_index("ix_delivery_destination_request", "delivery", ["destination", "request_id"])
    op.create_index("ix_request_requested", "service_request", ["requested_datetime", "id"])
    op.create_index(
        "ix_request_open_requested",
        "service_request",
        ["requested_datetime", "id", "service_code", "status"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.drop_index("ix_request_open", table_name="service_request")


def downgrade() -> None:
    op.create_index(
        "ix_request_open", "service_request", ["id"], sqlite_where=OPEN, postgresql_where=OPEN
    )
    op.drop_index("ix_request_open_requested", table_name="service_request")
    op.drop_index("ix_request_requested", table_name="service_request")
    op.drop_index("ix_delivery_destination_request", table_name="delivery")
