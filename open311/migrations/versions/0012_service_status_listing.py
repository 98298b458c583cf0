"""a listing index for a service and a status together

The sparse filter (one service, one status, years ago: open hydrant reports from five years
ago to one year ago) went through ix_request_service_listing, which orders a service's
reports by time and checks the status in the index: at 1,000,000 reports it read the
service's every report of those years, mostly closed, to find its few matches (the bench's
sparse filter cut to the 13 rows it answers at 10,000: p95 71 ms against 31 ms there).
With the status before the time, the matches are one range, read in order.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:12:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Copied, not imported from the models: a migration must do tomorrow what it does today.
COLUMNS = ["jurisdiction_id", "private", "service_code", "status", "requested_datetime", "id"]


def upgrade() -> None:
    op.create_index("ix_request_service_status_listing", "service_request", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_request_service_status_listing", table_name="service_request")
