"""GET requests assembles its pages from each report's stored public answer
(open311/fragments.py): the bytes are the ones the whitelist schema and the renderer make
of the whole list, they follow every change, and rows without one are rendered on read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from open311.fragments import STALE
from open311.models import ServiceRequest
from open311.render import to_json, to_xml
from schemas.output import RequestSchema

from .conftest import api, edit_request, new_id
from .test_query import now


def _expected(app: Any, ids: list[str], fmt: str) -> bytes:
    """What rendering the whole list through the schema makes of these reports."""
    with app.extensions["open311"].db.read() as session:
        rows = {
            r.public_id: r
            for r in session.scalars(
                select(ServiceRequest).where(ServiceRequest.public_id.in_(ids))
            )
        }
        body = RequestSchema(many=True).dump([rows[i] for i in ids])
    return to_xml("service_requests", body) if fmt == "xml" else to_json(body)


def _reports(app: Any, client: Any, fmt: str, key: str) -> list[str]:
    t = now()
    plain = new_id(client, fmt, key)
    awkward = new_id(
        client,
        fmt,
        key,
        description='Ünïcødé « quotes " and <tags> & ampersands; a tab\there',
        address_string="1 Elm St, New Haven",
        media_url="https://example.org/a.jpg?x=1&y=2",
    )
    closed = new_id(client, fmt, key, service_code="STREETLIGHT")
    edit_request(
        app,
        closed,
        status="closed",
        status_notes="Fixed \u2014 bulb replaced",
        expected_datetime=t,
        requested_datetime=t - timedelta(hours=1),
    )
    edit_request(app, awkward, requested_datetime=t - timedelta(hours=2))
    edit_request(app, plain, requested_datetime=t - timedelta(hours=3), lat=None, long=None)
    return [closed, awkward, plain]  # newest first


def test_pages_are_the_bytes_of_the_whole_list(
    app: Any, client: Any, submit_key: str, fmt: str
) -> None:
    ids = _reports(app, client, fmt, submit_key)
    response = client.get(api(f"requests.{fmt}"))
    assert response.status_code == 200
    assert response.data == _expected(app, ids, fmt)
    one = client.get(api(f"requests/{ids[1]}.{fmt}"))
    assert one.data == _expected(app, [ids[1]], fmt)
    # With a submit key, the same bytes.
    keyed = client.get(api(f"requests.{fmt}"), query_string={"api_key": submit_key})
    assert keyed.data == response.data
    empty = client.get(
        api(f"requests.{fmt}"), query_string={"status": "closed", "service_code": "LEAK"}
    )
    assert empty.data == (to_xml("service_requests", []) if fmt == "xml" else to_json([]))


def test_stored_answers_follow_every_change(
    app: Any, client: Any, submit_key: str, fmt: str
) -> None:
    rid = new_id(client, fmt, submit_key)
    before = client.get(api(f"requests/{rid}.{fmt}")).data
    edit_request(app, rid, status="closed", status_notes="Filled on Tuesday.")
    after = client.get(api(f"requests/{rid}.{fmt}")).data
    assert after != before and b"Filled on Tuesday." in after
    assert after == _expected(app, [rid], fmt)
    assert client.get(api(f"requests.{fmt}")).data == _expected(app, [rid], fmt)


def test_rows_without_a_stored_answer_are_rendered_on_read(
    app: Any, client: Any, submit_key: str, fmt: str
) -> None:
    ids = _reports(app, client, fmt, submit_key)
    # A Core UPDATE (an import, a migration, an operator's SQL) bypasses the ORM: it
    # clears the stored answers with the change, as fragments.STALE says.
    with app.extensions["open311"].db.write() as session, session.begin():
        session.execute(
            update(ServiceRequest)
            .where(ServiceRequest.public_id == ids[0])
            .values(description="Changed by SQL", **STALE)
        )
        session.execute(
            update(ServiceRequest).where(ServiceRequest.public_id == ids[2]).values(**STALE)
        )
    page = client.get(api(f"requests.{fmt}")).data
    assert b"Changed by SQL" in page
    assert page == _expected(app, ids, fmt)
    assert client.get(api(f"requests/{ids[0]}.{fmt}")).data == _expected(app, [ids[0]], fmt)
