"""Item 1: the public servicerequestupdates feed must not let anyone count or date the
updates on private reports. Its entries were numbered with the global update sequence, so
the gaps between two public entries counted the private updates made in between (and the
entries' times dated them). Now each entry has an opaque random id, and the feed pages with
a cursor made of public values only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from open311.models import RequestUpdate
from tests.conftest import make_key
from tests.helpers import parse
from tests.privacy.common import created, deliver_all, staff_post

from .conftest import API, refused


def _feed(client: Any, fmt: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{API}/servicerequestupdates.{fmt}", query_string=params)
    assert response.status_code == 200, response.data
    return parse(response, fmt)


def _busy_private_neighbour(app: Any, client: Any) -> tuple[str, str]:
    """A public pothole with an update, three updates on a private complaint, and a second
    public update: the situation in which the neighbour counts the gap."""
    key = make_key(app, "resident-app")
    pothole = created(client, key, "POTHOLE")["service_request_id"]
    complaint = created(client, key, "NEIGHBOR_COMPLAINT", description="Tuba at 3am")[
        "service_request_id"
    ]
    deliver_all(app)
    works = make_key(app, "works-clerk", "staff", "nhv-public-works")
    housing = make_key(app, "ha-clerk", "staff", "nhv-housing-authority")
    staff_post(client, works, f"{pothole}/status", status="open", status_notes="Crew booked")
    staff_post(client, housing, f"{complaint}/claim")
    for note in ("Letter sent", "Visit", "Mediation"):
        staff_post(client, housing, f"{complaint}/status", status="open", status_notes=note)
    staff_post(client, works, f"{pothole}/status", status="closed", status_notes="Patched")
    return pothole, complaint


def test_feed_ids_are_opaque_and_not_the_global_sequence(app: Any, client: Any, fmt: str) -> None:
    pothole, _ = _busy_private_neighbour(app, client)
    feed = _feed(client, fmt)
    assert {e["service_request_id"] for e in feed} == {pothole}
    ids = [e["update_id"] for e in feed]
    with app.extensions["open311"].db.read() as session:
        sequence = {str(n) for n in session.scalars(select(RequestUpdate.id))}
    # Neither the row numbers themselves nor anything that orders like them.
    assert not sequence & set(ids), (ids, sequence)
    assert not any(i.isdigit() for i in ids), ids
    assert len(set(ids)) == len(ids) and all(len(i) >= 16 for i in ids), ids


def test_feed_ids_are_stable_between_reads(app: Any, client: Any, fmt: str) -> None:
    _busy_private_neighbour(app, client)
    first = [e["update_id"] for e in _feed(client, fmt)]
    assert first == [e["update_id"] for e in _feed(client, "json")]


def test_the_feed_pages_with_a_cursor_of_public_values(app: Any, client: Any, fmt: str) -> None:
    pothole, _ = _busy_private_neighbour(app, client)
    whole = _feed(client, fmt)
    receipt_and_two = [e["update_id"] for e in whole]
    assert len(receipt_and_two) >= 2
    pages: list[str] = []
    after: str | None = None
    while True:
        page = _feed(client, fmt, page_size=1, **({"after": after} if after else {}))
        if not page:
            break
        assert len(page) == 1
        after = page[0]["update_id"]
        pages.append(after)
    assert pages == receipt_and_two


def test_a_private_update_is_no_cursor(app: Any, client: Any, fmt: str) -> None:
    """A private entry's id must not work as a cursor (that would confirm it exists)."""
    _busy_private_neighbour(app, client)
    with app.extensions["open311"].db.read() as session:
        hidden = session.scalars(select(RequestUpdate.public_id)).all()
    public = {e["update_id"] for e in _feed(client, "json")}
    private = [h for h in hidden if h not in public]
    assert private
    for cursor in (private[0], "0" * 16, "../1"):
        response = client.get(f"{API}/servicerequestupdates.{fmt}", query_string={"after": cursor})
        refused(response, fmt, 400, "after")
