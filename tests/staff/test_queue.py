"""The queue and its actions: one agency's reports only, filters, actions that reach the
public record as the inbox API's do, internal notes that never do, bulk, CSV, audit."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from open311.db import utcnow
from open311.models import AuditEntry, RequestUpdate, ServiceRequest, StaffNote
from tests.helpers import HOUSING_PROPERTY

from .conftest import PUBLIC_WORKS, file_report, make_staff, post, sign_in

SECRET = "INTERNAL-ONLY: the tenant cousin Sam lives there"
PUBLIC = "Handled by the housing authority."
ON_PROPERTY = {"lat": str(HOUSING_PROPERTY[0]), "long": str(HOUSING_PROPERTY[1])}


def _audit(app: Any) -> list[tuple[str, str | None, str | None]]:
    with app.extensions["open311"].db.read() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(r.action, r.request_public_id, r.key_name) for r in rows]


def test_a_private_report_from_claim_to_closed_shows_nothing_private_publicly(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str
) -> None:
    rid = file_report(client, submit_key, "LEASE_VIOLATION", email="tenant@example.org")
    queue = client.get("/staff/queue").get_data(as_text=True)
    assert rid in queue and "private" in queue
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert "tenant@example.org" in page  # the service keeps the contact: staff see it
    assert post(client, f"/staff/requests/{rid}/claim", {}).status_code == 302
    closed = post(
        client,
        f"/staff/requests/{rid}/status",
        {"status": "closed", "public_note": PUBLIC, "internal_note": SECRET},
    )
    assert closed.status_code == 302
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert SECRET in page and PUBLIC in page and housing["email"] in page
    # The public record: no such report by id, in lists or in the update feed.
    api = app.test_client()
    for fmt in ("json", "xml"):
        one = api.get(f"/open311/v2/requests/{rid}.{fmt}")
        assert one.status_code == 404
        for path in (f"/open311/v2/requests.{fmt}?status=closed",
                     f"/open311/v2/servicerequestupdates.{fmt}"):  # fmt: skip
            body = api.get(path).get_data(as_text=True)
            assert rid not in body and SECRET not in body and PUBLIC not in body
    with app.extensions["open311"].db.read() as session:
        row = session.scalar(select(ServiceRequest).where(ServiceRequest.public_id == rid))
        assert row.status == "closed"
        notes = [u.status_notes for u in session.scalars(select(RequestUpdate))]
        assert PUBLIC in notes and not any(SECRET in (n or "") for n in notes)
        assert SECRET not in (row.status_notes or "")
        assert session.scalar(select(StaffNote.body)) == SECRET
    actions = [a for a, r, _ in _audit(app) if r == rid]
    assert {"staff.web.list", "staff.web.view", "staff.web.claim", "staff.web.status"} <= set(
        actions
    )


def test_internal_notes_never_reach_a_public_report_s_record(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str
) -> None:
    # A streetlight on housing-authority property goes to the housing authority (demo route).
    rid = file_report(client, submit_key, "STREETLIGHT", **ON_PROPERTY)
    assert (
        post(
            client,
            f"/staff/requests/{rid}/status",
            {"status": "closed", "public_note": PUBLIC, "internal_note": SECRET},
        ).status_code
        == 302
    )
    for fmt in ("json", "xml"):
        body = (
            app.test_client()
            .get(f"/open311/v2/requests/{rid}.{fmt}?extensions=true")
            .get_data(as_text=True)
        )
        assert PUBLIC in body and SECRET not in body and "closed" in body


def test_staff_of_one_agency_never_see_another_s_reports(
    app: Any, client: Any, submit_key: str
) -> None:
    housing_id = file_report(client, submit_key, "LEASE_VIOLATION")
    works_id = file_report(client, submit_key, "POTHOLE")
    password = make_staff(app, "ivo@works.example", PUBLIC_WORKS)
    assert sign_in(client, "ivo@works.example", password).status_code == 302
    for status in ("open", "all"):
        page = client.get(f"/staff/queue?status={status}").get_data(as_text=True)
        assert works_id in page and housing_id not in page
    assert client.get(f"/staff/requests/{housing_id}").status_code == 404
    csv_text = client.get("/staff/queue.csv?status=all").get_data(as_text=True)
    assert works_id in csv_text and housing_id not in csv_text
    # Public works' reports go to its own system: its staff read, and change nothing here.
    assert post(client, f"/staff/requests/{works_id}/claim", {}).status_code == 403
    assert post(client, f"/staff/requests/{housing_id}/claim", {}).status_code == 403
    refused = post(client, "/staff/bulk", {"ids": [housing_id], "action": "close"})
    assert refused.status_code == 302
    with app.extensions["open311"].db.read() as session:
        statuses = set(session.scalars(select(ServiceRequest.status)))
        assert statuses == {"open"}
        assert session.scalar(select(StaffNote.id)) is None


def _age(app: Any, rid: str, days: int) -> None:
    with app.extensions["open311"].db.write() as session, session.begin():
        session.execute(
            update(ServiceRequest)
            .where(ServiceRequest.public_id == rid)
            .values(requested_datetime=utcnow() - timedelta(days=days))
        )


def test_filters_sort_and_paging(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str
) -> None:
    lease = file_report(client, submit_key, "LEASE_VIOLATION")
    neighbour = file_report(client, submit_key, "NEIGHBOR_COMPLAINT")
    on_property = file_report(client, submit_key, "LEAK", **ON_PROPERTY)
    _age(app, lease, 10)
    _age(app, neighbour, 3)

    def shown(query: str) -> list[str]:
        page = client.get(f"/staff/queue?{query}").get_data(as_text=True)
        found = [r for r in (lease, neighbour, on_property) if f">{r}</a>" in page]
        return sorted(found, key=lambda r: page.index(f">{r}</a>"))

    assert shown("") == [on_property, neighbour, lease]
    assert shown("sort=oldest") == [lease, neighbour, on_property]
    assert shown("service=NEIGHBOR_COMPLAINT") == [neighbour]
    assert shown("age=gt7") == [lease]
    assert shown("age=1to7") == [neighbour]
    assert shown("age=lt1") == [on_property]
    assert shown("area=housing-authority") == [on_property]
    assert shown("page_size=25&page=2") == []
    post(client, f"/staff/requests/{neighbour}/claim", {})
    assert shown("claimed=unclaimed") == [on_property, lease]
    assert shown(f"claimed={housing['email']}") == [neighbour]
    post(client, f"/staff/requests/{lease}/status", {"status": "closed"})
    assert shown("status=closed") == [lease]
    assert shown("status=all&sort=oldest") == [lease, neighbour, on_property]
    assert "were not understood" in client.get("/staff/queue?age=old").get_data(as_text=True)


def test_assign_and_claim_rules(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str
) -> None:
    rid = file_report(client, submit_key, "LEASE_VIOLATION")
    make_staff(app, "jo@housing.example")
    boss_password = make_staff(app, "kim@housing.example", role="admin")
    assert (
        post(client, f"/staff/requests/{rid}/assign", {"to": "jo@housing.example"}).status_code
        == 302
    )
    # Now a colleague's: a staff member can neither claim nor reassign it.
    assert post(client, f"/staff/requests/{rid}/claim", {}).status_code == 409
    assert (
        post(client, f"/staff/requests/{rid}/assign", {"to": housing["email"]}).status_code == 409
    )
    assert (
        post(client, f"/staff/requests/{rid}/assign", {"to": "x@else.example"}).status_code == 404
    )
    boss = app.test_client()
    sign_in(boss, "kim@housing.example", boss_password)
    assert post(boss, f"/staff/requests/{rid}/assign", {"to": housing["email"]}).status_code == 302
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert f"<dd>{housing['email']}</dd>" in page
    assign_audit = [(a, k) for a, r, k in _audit(app) if a == "staff.web.assign"]
    assert assign_audit == [
        ("staff.web.assign", housing["email"]),
        ("staff.web.assign", "kim@housing.example"),
    ]


def test_expected_date_reaches_the_record(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str
) -> None:
    rid = file_report(client, submit_key, "LEAK", **ON_PROPERTY)
    post(client, f"/staff/requests/{rid}/status", {"status": "open", "expected_date": "2030-05-06"})
    body = app.test_client().get(f"/open311/v2/requests/{rid}.json").get_json()[0]
    assert body["expected_datetime"] == "2030-05-06T12:00:00Z"


def test_bulk_close_and_reassign(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str
) -> None:
    ids = [file_report(client, submit_key, "LEASE_VIOLATION") for _ in range(3)]
    make_staff(app, "lu@housing.example")
    moved = post(
        client,
        "/staff/bulk",
        {"ids": ids[:2], "action": "assign", "to": "lu@housing.example", "back": "/staff/queue"},
    )
    assert moved.headers["Location"] == "/staff/queue"
    page = client.get("/staff/queue?claimed=lu@housing.example").get_data(as_text=True)
    assert ids[0] in page and ids[1] in page and ids[2] not in page
    notes = {"public_note": PUBLIC, "internal_note": SECRET}
    closed = post(client, "/staff/bulk", {"ids": ids[1:], "action": "close", **notes})
    assert closed.status_code == 302
    with app.extensions["open311"].db.read() as session:
        status = dict(
            session.execute(select(ServiceRequest.public_id, ServiceRequest.status)).all()
        )
        assert [status[i] for i in ids] == ["open", "closed", "closed"]
        assert len(list(session.scalars(select(StaffNote)))) == 2
    assert "Select at least one" in client.get(
        post(client, "/staff/bulk", {"action": "close"}).headers["Location"]
    ).get_data(as_text=True)


def test_csv_export_is_the_current_view(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str
) -> None:
    lease = file_report(client, submit_key, "LEASE_VIOLATION", address_string="=HYPERLINK(1)")
    neighbour = file_report(client, submit_key, "NEIGHBOR_COMPLAINT", email="n@example.org")
    answer = client.get("/staff/queue.csv?service=LEASE_VIOLATION")
    assert answer.mimetype == "text/csv" and "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [r["service_request_id"] for r in rows] == [lease]
    assert rows[0]["address"] == "'=HYPERLINK(1)"  # not run as a formula by a spreadsheet
    assert rows[0]["private"] == "True" and rows[0]["status"] == "open"
    every = client.get("/staff/queue.csv").get_data(as_text=True)
    assert neighbour in every and "n@example.org" not in every  # no personal fields
    assert ("staff.web.export", lease, housing["email"]) in _audit(app)


def test_a_private_report_s_photo_shows_to_its_agency_s_signed_in_staff_only(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str
) -> None:
    from tests.media.test_photos import camera_jpeg

    answer = client.post(
        "/open311/v2/requests.json",
        data={"api_key": submit_key, "service_code": "LEASE_VIOLATION", **ON_PROPERTY,
              "media": [(io.BytesIO(camera_jpeg()), "unit.jpg", "image/jpeg")]},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert answer.status_code == 200, answer.get_data(as_text=True)
    rid = answer.get_json()[0]["service_request_id"]
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    src = re.search(r'<img src="http://localhost(/media/[^"?]+)\?size=small"', page)
    assert src, page
    assert client.get(src.group(1) + "?size=small").status_code == 200  # signed in: shown
    assert app.test_client().get(src.group(1)).status_code == 404  # nobody else
    other = app.test_client()
    sign_in(other, "oz@works.example", make_staff(app, "oz@works.example", PUBLIC_WORKS))
    assert other.get(src.group(1)).status_code == 404  # nor another agency's staff


def test_internal_notes_are_erased_with_the_contact_after_the_retention_window(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str
) -> None:
    from open311.retention import count_personal_data, purge_personal_data

    old = file_report(client, submit_key, "LEASE_VIOLATION")  # no contact: only the note
    recent = file_report(client, submit_key, "LEASE_VIOLATION")
    for rid in (old, recent):
        post(client, f"/staff/requests/{rid}/status", {"status": "closed", "internal_note": SECRET})
    with app.extensions["open311"].db.write() as session, session.begin():
        session.execute(
            update(ServiceRequest)
            .where(ServiceRequest.public_id == old)
            .values(updated_datetime=utcnow() - timedelta(days=400))
        )
    db = app.extensions["open311"].db
    with db.read() as session:
        assert count_personal_data(session, timedelta(days=365)) == 1
    with db.write() as session, session.begin():
        assert purge_personal_data(session, timedelta(days=365)) == 1
    with db.read() as session:
        left = (
            session.execute(
                select(ServiceRequest.public_id).join(
                    StaffNote, StaffNote.request_id == ServiceRequest.id
                )
            )
            .scalars()
            .all()
        )
    assert left == [recent]


def test_the_staff_api_keeps_an_internal_note_where_the_pages_show_it(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str, fmt: str
) -> None:
    from tests.conftest import make_key

    rid = file_report(client, submit_key, "STREETLIGHT", **ON_PROPERTY)
    key = make_key(app, "ha-machine", "staff", "nhv-housing-authority")
    answer = app.test_client().post(
        f"/open311/v2/staff/requests/{rid}/status.{fmt}",
        data={"status": "closed", "status_notes": PUBLIC, "internal_note": SECRET},
        headers={"X-API-Key": key},
    )
    assert answer.status_code == 200 and SECRET not in answer.get_data(as_text=True)
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert SECRET in page and "ha-machine" in page
    public = app.test_client().get(f"/open311/v2/requests/{rid}.{fmt}?extensions=true")
    assert PUBLIC in public.get_data(as_text=True)
    assert SECRET not in public.get_data(as_text=True)


def test_the_service_filter_offers_what_can_reach_the_agency(
    app: Any, client: Any, housing: dict[str, Any]
) -> None:
    """From the configuration, before any report came in: the housing authority's own
    services, and those a route sends it from its properties; not a pothole in the street."""
    page = client.get("/staff/queue").get_data(as_text=True)
    chooser = re.search(r'<select id="f-service" name="service">(.*?)</select>', page, re.S)
    assert chooser, page[:2000]
    offered = re.findall(r'<option value="([^"]*)"', chooser.group(1))
    assert offered[0] == ""  # any service
    assert set(offered[1:]) == {
        "NEIGHBOR_COMPLAINT",
        "LEASE_VIOLATION",
        "STREETLIGHT",
        "SNOW_REMOVAL",
        "LEAK",
        "ILLEGAL_DUMPING",
        "GRAFFITI",
    }
