"""POST servicerequestupdates.{fmt} (mySociety's extension) as FixMyStreet's Open311 client
sends it: who may post, the answer, idempotency, what reaches the public record with the
demo's conservative defaults, and errors. Delivery to a back-end that accepts updates is
tests/adapters/test_app_updates_delivery.py."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from open311 import queue
from open311.models import AppUpdate, Delivery, ServiceRequest
from tests.conftest import make_key
from tests.helpers import HOUSING_PROPERTY, errors, parse, text

from .conftest import api, new_id

COMMENT = "Still there and deeper since the rain"


def post_update(client: Any, fmt: str, key: str | None, headers: Any = None, **fields: Any) -> Any:
    data = {k: v for k, v in fields.items() if v is not None}
    if key is not None:
        data["api_key"] = key
    return client.post(api(f"servicerequestupdates.{fmt}"), data=data, headers=headers or {})


def fms_update(rid: str, **fields: Any) -> dict[str, Any]:
    """The parameters FixMyStreet's Open311.pm sends for a comment."""
    return {
        "service_request_id": rid,
        "update_id_ext": "4242",
        "service_request_id_ext": "981",
        "updated_datetime": "2026-11-30T10:15:00+00:00",
        "status": "OPEN",
        "description": COMMENT,
        "email": "resident@example.org",
        "first_name": "Ann",
        "last_name": "Resident",
        "public_anonymity_required": "FALSE",
        "email_alerts_requested": "FALSE",
        **fields,
    }


def answered_id(response: Any, fmt: str) -> str:
    assert response.status_code == 200, response.data
    body = parse(response, fmt)
    assert isinstance(body, list) and len(body) == 1, body
    assert set(body[0]) == {"update_id"}, body
    if fmt == "xml":  # <service_request_updates><request_update><update_id>, as FMS reads it
        assert b"<service_request_updates><request_update><update_id>" in response.data
    return str(body[0]["update_id"])


def rejected(response: Any, fmt: str, status: int, fragment: str) -> None:
    assert response.status_code == status, response.data
    body = errors(response, fmt)
    assert text(body[0]["code"]) == str(status)
    assert fragment in " ".join(e["description"] for e in body), body


def stored(app: Any) -> list[AppUpdate]:
    with app.extensions["open311"].db.read() as session:
        return list(session.scalars(select(AppUpdate).order_by(AppUpdate.id)))


def feed_descriptions(client: Any, fmt: str) -> list[Any]:
    return [e["description"] for e in parse(client.get(api(f"servicerequestupdates.{fmt}")), fmt)]


def test_the_filing_app_posts_a_comment_kept_for_staff_and_not_published(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = new_id(client, fmt, submit_key, description="A pothole")
    uid = answered_id(post_update(client, fmt, submit_key, **fms_update(rid)), fmt)
    [kept] = stored(app)
    assert kept.public_id == uid and kept.description == COMMENT
    assert not kept.public_comment and not kept.public_status
    # The demo's agencies keep the default: an app's comment is not a public note.
    assert COMMENT not in feed_descriptions(client, fmt)
    [report] = parse(
        client.get(api(f"requests/{rid}.{fmt}"), query_string={"extensions": "true"}), fmt
    )
    assert report["status_notes"] != COMMENT
    assert COMMENT not in [n.get("summary") for n in report["notes"]]
    # The author's personal fields are not kept anywhere.
    assert "resident@example.org" not in repr(vars(kept))
    # The agency's staff see it in the report's history.
    with app.extensions["open311"].db.read() as session:
        row = session.scalar(select(ServiceRequest).where(ServiceRequest.public_id == rid))
        events = queue.history(session, row, "nhv-public-works")
        assert [(e.kind, e.text) for e in events if e.kind == "app"] == [("app", COMMENT)]
        # Public works' adapter (http_json) takes no updates: nothing is queued for it.
        queued = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.app_update_id.is_not(None))
        )
    assert queued == 0


def test_a_status_from_an_app_does_not_change_the_report_by_default(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = new_id(client, fmt, submit_key)
    answered_id(post_update(client, fmt, submit_key, **fms_update(rid, status="FIXED")), fmt)
    [report] = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)
    assert report["status"] == "open"
    [kept] = stored(app)
    assert (kept.status, kept.detailed_status, kept.public_status) == ("closed", "fixed", False)


def test_the_same_update_sent_twice_is_recorded_once(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = new_id(client, fmt, submit_key)
    first = answered_id(post_update(client, fmt, submit_key, **fms_update(rid)), fmt)
    again = answered_id(post_update(client, fmt, submit_key, **fms_update(rid)), fmt)
    assert first == again
    # open311-adapter's spelling of the app's id works the same way.
    by_update_id = {"service_request_id": rid, "update_id": "4243", "description": "x"}
    other = answered_id(post_update(client, fmt, submit_key, **by_update_id), fmt)
    assert other == answered_id(post_update(client, fmt, submit_key, **by_update_id), fmt)
    assert other != first
    # An Idempotency-Key does the same for an app that sends no update id.
    once = {"Idempotency-Key": "retry-7"}
    plain = {"service_request_id": rid, "description": "Seen again"}
    k1 = answered_id(post_update(client, fmt, submit_key, headers=once, **plain), fmt)
    k2 = answered_id(post_update(client, fmt, submit_key, headers=once, **plain), fmt)
    assert k1 == k2
    assert len(stored(app)) == 3
    # The same id with other words is a mistake, not a retry.
    rejected(
        post_update(client, fmt, submit_key, **fms_update(rid, description="Different")),
        fmt,
        422,
        "update_id",
    )
    assert len(stored(app)) == 3


def test_only_the_filing_app_or_the_owning_agency_may_post(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = new_id(client, fmt, submit_key)
    private = new_id(
        client,
        fmt,
        submit_key,
        service_code="NEIGHBOR_COMPLAINT",
        lat=HOUSING_PROPERTY[0],
        long=HOUSING_PROPERTY[1],
    )
    other_app = make_key(app, "another-app")
    rejected(post_update(client, fmt, None, **fms_update(rid)), fmt, 403, "api_key")
    rejected(post_update(client, fmt, "o311_wrong", **fms_update(rid)), fmt, 403, "api_key")
    rejected(post_update(client, fmt, other_app, **fms_update(rid)), fmt, 403, "Only the app")
    # A private report of another app does not exist for this key, as an unknown id.
    rejected(post_update(client, fmt, other_app, **fms_update(private)), fmt, 404, "No service")
    rejected(post_update(client, fmt, submit_key, **fms_update("NHV-99999")), fmt, 404, "No")
    other_staff = make_key(app, "zoning-clerk", "staff", "nhv-zoning")
    rejected(post_update(client, fmt, other_staff, **fms_update(rid)), fmt, 403, "Only the app")
    assert stored(app) == []
    # The filing app may post on its private report too.
    answered_id(post_update(client, fmt, submit_key, **fms_update(private)), fmt)
    # The owning agency's staff speak for the agency: comment and status are published.
    works = make_key(app, "works-clerk", "staff", "nhv-public-works")
    answered_id(
        post_update(client, fmt, works, **fms_update(rid, status="CLOSED", update_id_ext="9")),
        fmt,
    )
    [report] = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)
    assert (report["status"], report["status_notes"]) == ("closed", COMMENT)
    assert COMMENT in feed_descriptions(client, fmt)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"service_request_id": None}, "service_request_id"),
        ({"description": None, "status": None}, "description"),
        ({"status": "MAYBE"}, "status"),
        ({"description": "x" * 4001}, "4000"),
        ({"updated_datetime": "yesterday"}, "updated_datetime"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
        ({"jurisdiction_id": "nowhere.example"}, "jurisdiction_id"),
    ],
)
def test_bad_updates_are_refused_in_the_open311_error_list(
    client: Any, app: Any, submit_key: str, fmt: str, fields: dict[str, Any], fragment: str
) -> None:
    rid = new_id(client, fmt, submit_key)
    response = post_update(client, fmt, submit_key, **fms_update(rid, **fields))
    assert response.status_code in (400, 404), response.data
    rejected(response, fmt, response.status_code, fragment)
    assert stored(app) == []


def test_a_comment_of_3995_characters_with_crlf_is_accepted_and_kept_with_lf(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = new_id(client, fmt, submit_key)
    words = "\r\n".join(["y" * 798] * 5) + "\r\n"
    answered_id(post_update(client, fmt, submit_key, **fms_update(rid, description=words)), fmt)
    [kept] = stored(app)
    assert kept.description == words.replace("\r\n", "\n") and len(kept.description) == 3995


def test_an_update_on_another_jurisdictions_report_is_404(
    client: Any, submit_key: str, fmt: str
) -> None:
    rid = new_id(client, fmt, submit_key)
    response = post_update(
        client, fmt, submit_key, **fms_update(rid, jurisdiction_id="hamdenct.gov")
    )
    rejected(response, fmt, 404, "No service request")
