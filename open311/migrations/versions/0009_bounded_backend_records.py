"""records a back-end wrote before its updates were bounded: future dates and huge notes

Until now a change dated in the future (2099, 9999) was stored as sent and pinned the
report's public status (an older change never overwrites a newer one), and a back-end's
notes had no length. open311/updates.py now records such a change at its arrival and cuts
notes at 4,000 characters with a marker; this brings the rows written before it into line,
so a report pinned by a 2099 date takes staff changes again after the upgrade:

- a status update dated more than 5 minutes after it arrived gets its arrival time
  (`created_at`); a report's `updated_datetime` that lies ahead gets the upgrade's time;
- notes over 4,000 characters, on reports and updates, are cut with the marker;
- the stored public answers of the reports changed are cleared, to be rendered on read.

The numbers and the marker are copied here, not imported: a migration must do tomorrow what
it does today. No downgrade: the dates and notes as sent are not kept anywhere.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MAX_NOTES = 4000
CUT_MARKER = " [… cut: the agency's note was longer than 4,000 characters]"
CLOCK_SKEW = timedelta(minutes=5)


def upgrade() -> None:
    connection = op.get_bind()
    # The columns hold naive UTC (open311/db.py UTCDateTime).
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    reports = sa.table(
        "service_request",
        sa.column("id", sa.Integer),
        sa.column("updated_datetime", sa.DateTime),
        sa.column("status_notes", sa.Text),
        sa.column("public_json", sa.Text),
        sa.column("public_xml", sa.Text),
    )
    updates = sa.table(
        "request_update",
        sa.column("updated_datetime", sa.DateTime),
        sa.column("created_at", sa.DateTime),
        sa.column("status_notes", sa.Text),
    )
    connection.execute(
        updates.update()
        .where(updates.c.updated_datetime > now + CLOCK_SKEW)
        .values(updated_datetime=updates.c.created_at)
    )
    for table in (reports, updates):
        notes = table.c.status_notes
        cut = sa.func.substr(notes, 1, MAX_NOTES - len(CUT_MARKER), type_=sa.Text) + CUT_MARKER
        changed: dict[str, object] = {"status_notes": cut}
        if table is reports:
            changed |= {"public_json": None, "public_xml": None}
        connection.execute(
            table.update().where(sa.func.length(notes) > MAX_NOTES).values(**changed)
        )
    connection.execute(
        reports.update()
        .where(reports.c.updated_datetime > now + CLOCK_SKEW)
        .values(updated_datetime=now, public_json=None, public_xml=None)
    )


def downgrade() -> None:
    # Nothing to undo: the rows keep their bounded values, which the older code reads too.
    pass
