"""indexes for the query extensions of GET requests (map, agency, service, updated)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_request_location": ["jurisdiction_id", "private", "lat", "long"],
    "ix_request_agency_listing": [
        "jurisdiction_id",
        "private",
        "agency_responsible",
        "requested_datetime",
    ],
    "ix_request_service_listing": [
        "jurisdiction_id",
        "private",
        "service_code",
        "requested_datetime",
    ],
    "ix_request_updated_listing": ["jurisdiction_id", "private", "updated_datetime"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "service_request", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="service_request")
