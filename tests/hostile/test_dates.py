"""Item 5: impossible dates are a clear 400 naming the parameter, never a 500. Dates near
datetime's own limits overflowed when the default 90-day window was added to them, or when
an offset was turned into UTC; now a client's date lies in 1900..2999 (schemas/datetimes.py,
the one parser) wherever it is sent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from open311.models import ServiceRequest
from tests.conftest import make_key
from tests.privacy.common import created, deliver_all
from tests.staff.conftest import csrf_token, make_staff, sign_in

from .conftest import API, Unchanged, push, refused

IMPOSSIBLE = (
    "9999-12-01T00:00:00Z",
    "0001-01-05T00:00:00Z",
    # Valid spellings of moments outside datetime's years once taken to UTC.
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "3000-01-01T00:00:00Z",
)


@pytest.mark.parametrize("value", IMPOSSIBLE)
@pytest.mark.parametrize(
    ("resource", "name"),
    [
        ("requests", "start_date"),
        ("requests", "end_date"),
        ("requests", "updated_after"),
        ("requests", "updated_before"),
        ("servicerequestupdates", "start_date"),
        ("servicerequestupdates", "end_date"),
    ],
)
def test_an_impossible_date_filter_is_a_400(
    client: Any, fmt: str, resource: str, name: str, value: str
) -> None:
    response = client.get(f"{API}/{resource}.{fmt}", query_string={name: value})
    refused(response, fmt, 400, name)


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "1900-01-01T00:00:00Z", "end_date": "2999-12-31T23:59:59Z"},
        # One bound alone: the default window is counted from it.
        {"start_date": "2999-12-31T23:59:59Z"},
        {"end_date": "1900-01-01T00:00:00Z"},
    ],
)
def test_the_edges_of_the_range_are_accepted(client: Any, fmt: str, params: Any) -> None:
    for resource in ("requests", "servicerequestupdates"):
        response = client.get(f"{API}/{resource}.{fmt}", query_string=params)
        assert response.status_code == 200, response.data


@pytest.mark.parametrize("value", ["9999-12-01T00:00:00Z", "0001-01-05T00:00:00Z"])
def test_an_impossible_datetime_attribute_is_a_400(
    app: Any, client: Any, fmt: str, submit_key: str, value: str
) -> None:
    with Unchanged(app):
        response = client.post(
            f"{API}/requests.{fmt}",
            data={
                "api_key": submit_key,
                "service_code": "ILLEGAL_DUMPING",
                "address_string": "1 Church St",
                "attribute[WHAT]": "tires",
                "attribute[NOTICED_AT]": value,
            },
        )
        refused(response, fmt, 400, "NOTICED_AT")


def test_an_impossible_date_on_an_app_update_is_a_400(app: Any, client: Any, fmt: str) -> None:
    key = make_key(app, "resident-app")
    rid = created(client, key, "POTHOLE")["service_request_id"]
    with Unchanged(app):
        response = client.post(
            f"{API}/servicerequestupdates.{fmt}",
            data={
                "api_key": key,
                "service_request_id": rid,
                "description": "Still there",
                "updated_datetime": "9999-12-01T00:00:00Z",
            },
        )
        refused(response, fmt, 400, "updated_datetime")


def test_an_impossible_expected_date_from_staff_is_a_400(app: Any, client: Any, fmt: str) -> None:
    key = make_key(app, "resident-app")
    rid = created(client, key, "NEIGHBOR_COMPLAINT")["service_request_id"]
    deliver_all(app)
    staff = make_key(app, "ha-clerk", "staff", "nhv-housing-authority")
    with Unchanged(app):
        response = client.post(
            f"{API}/staff/requests/{rid}/status.{fmt}",
            data={"status": "open", "expected_datetime": "0001-01-01T00:00:00+01:00"},
            headers={"X-API-Key": staff},
        )
        refused(response, fmt, 400, "expected_datetime")


def test_an_impossible_date_in_a_webhook_push_is_a_400(app: Any, client: Any, fmt: str) -> None:
    key = make_key(app, "resident-app")
    rid = created(client, key, "POTHOLE")["service_request_id"]
    deliver_all(app)
    with Unchanged(app):
        response = push(
            client,
            fmt,
            [
                {
                    "service_request_id": rid,
                    "status": "closed",
                    "updated_datetime": "9999-12-31T23:59:59-01:00",
                }
            ],
        )
        refused(response, fmt, 400, "updated_datetime")


def test_an_impossible_expected_date_on_the_staff_page_is_not_saved(app: Any, client: Any) -> None:
    """The staff page's date field (a date, no time) has the same range; a refused form is
    answered on the page (a message, no change)."""
    email = "ana@housing.example"
    assert sign_in(client, email, make_staff(app, email)).status_code == 302
    rid = created(client, make_key(app, "resident-app"), "LEASE_VIOLATION")["service_request_id"]
    token = csrf_token(client, "/staff/queue")
    with Unchanged(app):
        for day in ("9999-12-31", "0001-01-01"):
            form = {"status": "closed", "expected_date": day, "csrf_token": token}
            assert client.post(f"/staff/requests/{rid}/status", data=form).status_code == 302
    with app.extensions["open311"].db.read() as session:
        row = session.scalars(select(ServiceRequest).where(ServiceRequest.public_id == rid)).one()
    assert row.status == "open" and row.expected_datetime is None
