"""Item 9: what a back-end sends cannot blow up or pin the public record. Notes had no length
limit (3 MB were published) and a change dated 2099 outranked every later change (an older
change never overwrites a newer one), so staff could no longer set the status. Now, where
every change enters (open311/updates.py): notes are cut at MAX_NOTES with a marker, other
texts at their columns' sizes, and a change dated more than CLOCK_SKEW ahead is recorded at
the time it arrived. Both ways a back-end speaks are tried: the signed webhook and a sync."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from adapters.base import Adapter, Receipt, Reference, Ticket, Update
from open311.db import utcnow
from open311.migrate import downgrade, upgrade
from open311.models import Delivery, RequestUpdate, ServiceRequest
from open311.sync import sync_destination
from open311.updates import CLOCK_SKEW, CUT_MARKER, MAX_NOTES
from schemas.datetimes import parse_w3c
from tests.conftest import make_key
from tests.helpers import parse
from tests.privacy.common import created, deliver_all, staff_post

from .conftest import API, WEBHOOK_AGENCY, push

HUGE = "Crew report. " + "x" * (3 * 1024 * 1024)


class Feed(Adapter):
    """A back-end whose status feed answers what the test gives it."""

    name = "test-feed"

    def __init__(self, updates: list[Update]) -> None:
        super().__init__({})
        self.updates = updates

    def submit(self, ticket: Ticket) -> Receipt:
        raise AssertionError("not used")

    def fetch_updates(self, since: datetime, references: Sequence[Reference] = ()) -> list[Update]:
        return self.updates


def _pothole(app: Any, client: Any) -> tuple[str, str]:
    """A delivered pothole report: its public id and its work order's id."""
    rid = created(client, make_key(app, "resident-app"), "POTHOLE")["service_request_id"]
    deliver_all(app)
    with app.extensions["open311"].db.read() as session:
        backend_id = session.scalar(
            select(Delivery.backend_id).where(Delivery.destination == WEBHOOK_AGENCY)
        )
    assert backend_id
    return rid, backend_id


def _sync(app: Any, updates: list[Update]) -> int:
    gw = app.extensions["open311"]
    return sync_destination(gw.db, gw.catalog, WEBHOOK_AGENCY, Feed(updates))


def _public(client: Any, rid: str, fmt: str) -> dict[str, Any]:
    [record] = parse(client.get(f"{API}/requests/{rid}.{fmt}"), fmt)
    return record


def _assert_cut(notes: str) -> None:
    assert len(notes) == MAX_NOTES, len(notes)
    assert notes.startswith("Crew report. xxx") and notes.endswith(CUT_MARKER)


def test_a_synced_note_of_3_mb_is_cut_with_a_marker(app: Any, client: Any, fmt: str) -> None:
    rid, backend_id = _pothole(app, client)
    update = Update(
        backend_id=backend_id,
        status="closed",
        updated_datetime=utcnow(),
        status_notes=HUGE,
        detailed_status="d" * 500,
        agency_responsible="a" * 5000,
    )
    assert _sync(app, [update]) == 1
    record = _public(client, rid, fmt)
    assert record["status"] == "closed"
    _assert_cut(record["status_notes"])
    feed = parse(client.get(f"{API}/servicerequestupdates.{fmt}"), fmt)
    assert all(len(e.get("description") or "") <= MAX_NOTES for e in feed)
    assert len(client.get(f"{API}/requests.{fmt}").data) < 64 * 1024


def test_a_pushed_note_over_the_limit_is_cut_with_a_marker(app: Any, client: Any, fmt: str) -> None:
    rid, _ = _pothole(app, client)
    note = HUGE[: 1024 * 1024]  # the whole body stays under the 2 MiB limit
    response = push(
        client,
        fmt,
        [
            {
                "service_request_id": rid,
                "status": "open",
                "status_notes": note,
                "detailed_status": "d" * 500,
                "agency_responsible": "a" * 5000,
                "updated_datetime": utcnow().isoformat(),
            }
        ],
    )
    assert response.status_code == 200, response.data[:300]
    _assert_cut(_public(client, rid, fmt)["status_notes"])


def test_a_pushed_change_dated_2099_does_not_pin_the_status(
    app: Any, client: Any, fmt: str
) -> None:
    rid, _ = _pothole(app, client)
    before = utcnow()
    change = {"service_request_id": rid, "status": "closed", "status_notes": "Done, says 2099"}
    response = push(client, fmt, [{**change, "updated_datetime": "2099-01-01T00:00:00Z"}])
    assert response.status_code == 200, response.data
    record = _public(client, rid, fmt)
    assert record["status"] == "closed"
    # Recorded when it arrived, not in 2099.
    assert before <= parse_w3c(record["updated_datetime"]) <= utcnow() + timedelta(seconds=1)
    staff = make_key(app, "works-clerk", "staff", WEBHOOK_AGENCY)
    staff_post(client, staff, f"{rid}/status", status="open", status_notes="Reopened by staff")
    record = _public(client, rid, fmt)
    assert (record["status"], record["status_notes"]) == ("open", "Reopened by staff")


def test_a_synced_change_dated_9999_does_not_pin_the_status_and_is_kept_once(
    app: Any, client: Any, fmt: str
) -> None:
    rid, backend_id = _pothole(app, client)
    future = Update(
        backend_id=backend_id,
        status="closed",
        updated_datetime=datetime(9999, 12, 31, tzinfo=UTC),
        status_notes="Closed in the year 9999",
    )
    assert _sync(app, [future]) == 1
    assert _public(client, rid, fmt)["status"] == "closed"
    staff = make_key(app, "works-clerk", "staff", WEBHOOK_AGENCY)
    staff_post(client, staff, f"{rid}/status", status="open", status_notes="Reopened by staff")
    # The next pull brings the same change again (the overlap): known, so it neither
    # comes back into the history nor overrides the staff change. A second later, so that
    # its arrival time differs: it is known by what it said, not by when it came.
    time.sleep(1.1)
    assert _sync(app, [future]) == 0
    record = _public(client, rid, fmt)
    assert (record["status"], record["status_notes"]) == ("open", "Reopened by staff")
    with app.extensions["open311"].db.read() as session:
        dated = session.scalar(select(func.max(RequestUpdate.updated_datetime)))
    assert dated is not None and dated <= utcnow() + CLOCK_SKEW


def test_a_change_within_the_clock_skew_keeps_its_time(app: Any, client: Any, fmt: str) -> None:
    rid, backend_id = _pothole(app, client)
    soon = utcnow() + timedelta(minutes=2)
    assert _sync(app, [Update(backend_id=backend_id, status="open", updated_datetime=soon)]) == 1
    assert parse_w3c(_public(client, rid, fmt)["updated_datetime"]) == soon


def test_records_pinned_before_the_upgrade_are_brought_into_line(
    app: Any, client: Any, fmt: str, db_url: str
) -> None:
    """Migration 0009: what the older code stored (a change dated 2099 that pins the report,
    3 MB of notes, the public answers rendered from them) is bounded by the upgrade."""
    rid, _ = _pothole(app, client)
    gw = app.extensions["open311"]
    gw.db.dispose()
    downgrade(db_url, "0008")
    pinned = datetime(2099, 1, 1)
    with gw.db.write() as session, session.begin():
        report_id = session.scalar(select(ServiceRequest.id).where(ServiceRequest.public_id == rid))
        session.execute(
            update(ServiceRequest.__table__)
            .where(ServiceRequest.__table__.c.id == report_id)
            .values(
                status="closed",
                status_notes=HUGE,
                updated_datetime=pinned,
                public_json='{"stale": true}',
                public_xml="<request><stale/></request>",
            )
        )
        session.execute(
            update(RequestUpdate.__table__)
            .where(RequestUpdate.__table__.c.request_id == report_id)
            .values(status_notes=HUGE, updated_datetime=pinned)
        )
    gw.db.dispose()
    upgrade(db_url)
    record = _public(client, rid, fmt)
    _assert_cut(record["status_notes"])
    assert parse_w3c(record["updated_datetime"]) <= utcnow()
    staff = make_key(app, "works-clerk", "staff", WEBHOOK_AGENCY)
    staff_post(client, staff, f"{rid}/status", status="open", status_notes="Reopened by staff")
    record = _public(client, rid, fmt)
    assert (record["status"], record["status_notes"]) == ("open", "Reopened by staff")
    with gw.db.read() as session:
        history = session.execute(
            select(RequestUpdate.updated_datetime, RequestUpdate.status_notes)
        ).all()
    assert all(when <= utcnow() for when, _ in history)
    assert all(len(notes or "") <= MAX_NOTES for _, notes in history)
