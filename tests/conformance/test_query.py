"""GET requests.{fmt}, GET requests/{id}.{fmt} and GET tokens/{token}.{fmt}: filters, the
default window and limit, the fields of a request, and batch tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select

from open311.models import ServiceRequest
from tests.conftest import make_key
from tests.helpers import errors, parse, root_tag, text

from .conftest import (
    REQUEST_FIELDS,
    W3C_UTC,
    acknowledge_primary,
    api,
    created,
    edit_request,
    new_id,
    public_id_for_token,
)


def listing(client: Any, fmt: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(api(f"requests.{fmt}"), query_string=params)
    assert response.status_code == 200, response.data
    body = parse(response, fmt)
    assert isinstance(body, list), body
    return body


def ids(client: Any, fmt: str, **params: Any) -> list[str]:
    return [r["service_request_id"] for r in listing(client, fmt, **params)]


def w3c(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- filters ------------------------------------------------------------------------------


def test_service_request_id_list(client: Any, submit_key: str, fmt: str) -> None:
    a, b, c = (new_id(client, fmt, submit_key) for _ in range(3))
    assert sorted(ids(client, fmt, service_request_id=f"{a},{c}")) == sorted([a, c])
    assert sorted(ids(client, fmt, service_request_id=f"{a}, {b} ,{c}")) == sorted([a, b, c])
    assert ids(client, fmt, service_request_id="NHV-999999") == []


def test_service_request_id_overrides_every_other_filter(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = new_id(client, fmt, submit_key)
    edit_request(app, rid, requested_datetime=now() - timedelta(days=400))
    params = {
        "service_request_id": rid,
        "service_code": "STREETLIGHT",
        "status": "closed",
        "start_date": "2001-01-01T00:00:00Z",
        "end_date": "2001-01-02T00:00:00Z",
    }
    assert ids(client, fmt, **params) == [rid]
    # Even a service_code that does not exist is not looked at.
    assert ids(client, fmt, service_request_id=rid, service_code="NO_SUCH") == [rid]


def test_service_code_list(client: Any, submit_key: str, fmt: str) -> None:
    pothole = new_id(client, fmt, submit_key)
    light = new_id(client, fmt, submit_key, service_code="STREETLIGHT")
    leak = new_id(client, fmt, submit_key, service_code="LEAK")
    assert ids(client, fmt, service_code="POTHOLE") == [pothole]
    assert sorted(ids(client, fmt, service_code="POTHOLE, LEAK")) == sorted([pothole, leak])
    assert sorted(ids(client, fmt, service_code="")) == sorted([pothole, light, leak])
    assert ids(client, fmt, service_code="SNOW_REMOVAL") == []


def test_unknown_service_code_filter_is_404(client: Any, fmt: str) -> None:
    for value in ("NO_SUCH", "POTHOLE,NO_SUCH", "BULKY_PICKUP"):
        response = client.get(api(f"requests.{fmt}"), query_string={"service_code": value})
        assert response.status_code == 404, value
        errors(response, fmt)


def test_status_list(client: Any, app: Any, submit_key: str, fmt: str) -> None:
    open_one = new_id(client, fmt, submit_key)
    closed_one = new_id(client, fmt, submit_key)
    edit_request(app, closed_one, status="closed")
    assert ids(client, fmt, status="open") == [open_one]
    assert ids(client, fmt, status="closed") == [closed_one]
    assert sorted(ids(client, fmt, status="open, closed")) == sorted([open_one, closed_one])
    assert sorted(ids(client, fmt, status="")) == sorted([open_one, closed_one])
    got = listing(client, fmt, status="closed")[0]
    assert got["status"] == "closed"


@pytest.mark.parametrize("status", ["opened", "OPEN_", "in_progress", "open,bogus"])
def test_unknown_status_is_400(client: Any, fmt: str, status: str) -> None:
    response = client.get(api(f"requests.{fmt}"), query_string={"status": status})
    assert response.status_code == 400
    assert "status" in errors(response, fmt)[0]["description"]


def test_start_and_end_dates_combine_with_and(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    t = now()
    old, middle, recent = (new_id(client, fmt, submit_key) for _ in range(3))
    edit_request(app, old, requested_datetime=t - timedelta(days=10))
    edit_request(app, middle, requested_datetime=t - timedelta(days=5))
    edit_request(app, recent, requested_datetime=t - timedelta(days=1))
    window = {"start_date": w3c(t - timedelta(days=6)), "end_date": w3c(t - timedelta(days=2))}
    assert ids(client, fmt, **window) == [middle]
    # Inclusive at both ends.
    exact = w3c(t - timedelta(days=5))
    assert ids(client, fmt, start_date=exact, end_date=exact) == [middle]
    # Each bound alone still filters.
    assert ids(client, fmt, start_date=w3c(t - timedelta(days=6))) == [recent, middle]
    assert ids(client, fmt, end_date=w3c(t - timedelta(days=2))) == [middle, old]
    # Combined with the other filters.
    edit_request(app, middle, status="closed")
    assert ids(client, fmt, status="open", **window) == []
    assert ids(client, fmt, status="closed", service_code="POTHOLE", **window) == [middle]


@pytest.mark.parametrize(
    "spelling, after_noon",
    [
        ("{d}T12:00:00Z", 0),
        ("{d}T12:00:00.017Z", 0.017),
        ("{d}T11:59:59.5Z", -0.5),
        ("{d}T12:00:00.123456", 0.123456),
        ("{d}T12:00:00+00:00", 0),
        ("{d}T12:00:00", 0),
        ("{d}T07:00:00-05:00", 0),
        ("{d}T14:00:00+02:00", 0),
        ("{d}T14:00:00.250+02:00", 0.25),
    ],
)
def test_lenient_input_datetimes(
    client: Any, app: Any, submit_key: str, fmt: str, spelling: str, after_noon: float
) -> None:
    """Fractions, offsets, `Z` and naive (UTC) values all parse, to the instant they name."""
    rid = new_id(client, fmt, submit_key)
    day = (now() - timedelta(days=3)).date().isoformat()
    edit_request(app, rid, requested_datetime=datetime.fromisoformat(f"{day}T12:00:00+00:00"))
    value = spelling.format(d=day)
    # The report is at 12:00:00 UTC: a window starting at `value` holds it when `value` is
    # not later, one ending at `value` when `value` is not earlier.
    as_start = ids(client, fmt, start_date=value, end_date=w3c(now()))
    as_end = ids(client, fmt, start_date=f"{day}T00:00:00Z", end_date=value)
    assert as_start == ([rid] if after_noon <= 0 else [])
    assert as_end == ([rid] if after_noon >= 0 else [])


def test_a_plus_sent_unencoded_arrives_as_a_space(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = new_id(client, fmt, submit_key)
    day = (now() - timedelta(days=3)).date().isoformat()
    edit_request(app, rid, requested_datetime=datetime.fromisoformat(f"{day}T12:00:00+00:00"))
    # A raw query string: '+' decodes to ' ', as with clients that do not percent-encode.
    response = client.get(
        api(f"requests.{fmt}"),
        query_string=f"start_date={day}T14:00:00+02:00&end_date={day}T14:00:00+02:00",
    )
    assert response.status_code == 200, response.data
    assert [r["service_request_id"] for r in parse(response, fmt)] == [rid]


@pytest.mark.parametrize(
    "param, value",
    [
        ("start_date", "yesterday"),
        ("end_date", "2026-02-30T00:00:00Z"),
        ("start_date", "31/01/2026"),
        ("end_date", "2026-01-01T25:00:00Z"),
    ],
)
def test_unparseable_dates_are_400(client: Any, fmt: str, param: str, value: str) -> None:
    response = client.get(api(f"requests.{fmt}"), query_string={param: value})
    assert response.status_code == 400
    assert param in errors(response, fmt)[0]["description"]


def test_default_window_is_the_last_90_days(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    recent = new_id(client, fmt, submit_key)
    old = new_id(client, fmt, submit_key)
    edit_request(app, old, requested_datetime=now() - timedelta(days=100))
    edge = new_id(client, fmt, submit_key)
    edit_request(app, edge, requested_datetime=now() - timedelta(days=89))
    assert ids(client, fmt) == [recent, edge]
    window = {
        "start_date": w3c(now() - timedelta(days=101)),
        "end_date": w3c(now() - timedelta(days=99)),
    }
    assert ids(client, fmt, **window) == [old]
    assert ids(client, fmt, service_request_id=old) == [old]
    one = parse(client.get(api(f"requests/{old}.{fmt}")), fmt)
    assert [r["service_request_id"] for r in one] == [old]


def _bulk_insert(app: Any, count: int) -> list[str]:
    """`count` reports, one minute apart, newest first; written in one transaction."""
    t = now() - timedelta(hours=1)
    rows = []
    for i in range(count):
        when = t - timedelta(minutes=i)
        rows.append(
            ServiceRequest(
                public_id=f"BULK-{i:04d}",
                jurisdiction_id="newhavenct.gov",
                service_code="POTHOLE",
                service_name="Pothole",
                private=False,
                status="open",
                requested_datetime=when,
                updated_datetime=when,
                media_urls=[],
                attributes={},
            )
        )
    with app.extensions["open311"].db.write() as session, session.begin():
        session.add_all(rows)
    return [r.public_id for r in rows]


def test_at_most_1000_newest_first(client: Any, app: Any, fmt: str) -> None:
    newest_first = _bulk_insert(app, 1005)
    got = ids(client, fmt)
    assert len(got) == 1000
    assert got == newest_first[:1000]
    # Pages (extension) walk past the cut-off, 1-based.
    assert ids(client, fmt, page=1, page_size=3) == newest_first[:3]
    assert ids(client, fmt, page=2, page_size=3) == newest_first[3:6]
    assert ids(client, fmt, page=2, page_size=1000) == newest_first[1000:]


def test_empty_result(client: Any, fmt: str) -> None:
    response = client.get(api(f"requests.{fmt}"))
    assert response.status_code == 200
    if fmt == "json":
        assert response.get_json() == []
    else:
        assert root_tag(response) == "service_requests"
        assert response.data.rstrip().endswith(b"<service_requests/>")
    response = client.get(api(f"requests.{fmt}"), query_string={"service_code": "SNOW_REMOVAL"})
    assert response.status_code == 200 and parse(response, fmt) == []


def test_pages(client: Any, submit_key: str, fmt: str) -> None:
    made = [new_id(client, fmt, submit_key) for _ in range(5)]
    everything = ids(client, fmt)
    assert sorted(everything) == sorted(made)
    pages = [ids(client, fmt, page=p, page_size=2) for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert pages[0] + pages[1] + pages[2] == everything
    assert ids(client, fmt, page=4, page_size=2) == []
    assert ids(client, fmt, page=99, page_size=2) == []
    for bad in ({"page": "0"}, {"page_size": "0"}, {"page": "x"}, {"page_size": "1001"}):
        response = client.get(api(f"requests.{fmt}"), query_string=bad)
        assert response.status_code == 400, bad
        errors(response, fmt)


# --- one request --------------------------------------------------------------------------


def test_one_request_has_every_field(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(
        client,
        fmt,
        submit_key,
        description="A crater",
        address_string="Elm St & College St",
        media_url="https://photos.example.org/1.jpg",
        **{"attribute[DEPTH_CM]": "12"},
    )
    response = client.get(api(f"requests/{rid}.{fmt}"))
    assert response.status_code == 200
    if fmt == "xml":
        root = etree.fromstring(response.data)
        assert root.tag == "service_requests"
        assert [c.tag for c in root] == ["request"]
        # Every field present as an element, empty when unknown.
        assert [c.tag for c in root[0]] == list(REQUEST_FIELDS)
    body = parse(response, fmt)
    assert isinstance(body, list) and len(body) == 1
    got = body[0]
    assert set(got) == set(REQUEST_FIELDS)
    assert got["service_request_id"] == rid
    assert got["status"] == "open"
    assert got["status_notes"] in (None, "")
    assert got["service_name"] == "Pothole"
    assert got["service_code"] == "POTHOLE"
    assert got["description"] == "A crater"
    assert got["agency_responsible"]
    assert got["service_notice"].startswith("Public Works inspects")
    assert W3C_UTC.match(got["requested_datetime"])
    assert W3C_UTC.match(got["updated_datetime"])
    assert got["expected_datetime"] in (None, "")
    assert got["address"] == "Elm St & College St"
    assert got["address_id"] in (None, "")
    assert got["zipcode"] in (None, "")
    assert text(got["lat"]) and float(got["lat"]) == pytest.approx(41.3083)
    assert float(got["long"]) == pytest.approx(-72.9279)
    assert got["media_url"] == "https://photos.example.org/1.jpg"


def test_one_request_json_types(client: Any, submit_key: str) -> None:
    rid = new_id(client, "json", submit_key)
    got = client.get(api(f"requests/{rid}.json")).get_json()[0]
    assert isinstance(got["service_request_id"], str)
    assert isinstance(got["lat"], float) and isinstance(got["long"], float)
    for name in ("status_notes", "expected_datetime", "address", "address_id", "zipcode"):
        assert got[name] is None, name


def test_unknown_request_id_is_404(client: Any, submit_key: str, fmt: str) -> None:
    new_id(client, fmt, submit_key)
    for rid in ("NHV-999999", "nothing", "1"):
        response = client.get(api(f"requests/{rid}.{fmt}"))
        assert response.status_code == 404, rid
        assert text(errors(response, fmt)[0]["code"]) == "404"


def test_one_request_checks_the_jurisdiction(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key)
    ok = client.get(api(f"requests/{rid}.{fmt}"), query_string={"jurisdiction_id": ""})
    assert ok.status_code == 200
    ok = client.get(
        api(f"requests/{rid}.{fmt}"), query_string={"jurisdiction_id": "newhavenct.gov"}
    )
    assert ok.status_code == 200
    for other in ("hamdenct.gov", "nowhere.gov"):
        response = client.get(api(f"requests/{rid}.{fmt}"), query_string={"jurisdiction_id": other})
        assert response.status_code == 404, other
        errors(response, fmt)


# --- tokens -------------------------------------------------------------------------------


def zoning(client: Any, fmt: str, key: str) -> str:
    answer = created(
        client,
        fmt,
        key,
        service_code="ZONING",
        address_string="40 Howe St",
        email="neighbour@example.org",
    )
    assert answer["token"]
    return answer["token"]


def token_answer(client: Any, fmt: str, token: str, **params: Any) -> dict[str, Any]:
    response = client.get(api(f"tokens/{token}.{fmt}"), query_string=params)
    assert response.status_code == 200, response.data
    if fmt == "xml":
        assert root_tag(response) == "service_requests"
    body = parse(response, fmt)
    assert isinstance(body, list) and len(body) == 1, body
    assert set(body[0]) == {"service_request_id", "token"}
    assert body[0]["token"] == token
    return body[0]


def test_token_pending_then_resolved(client: Any, app: Any, submit_key: str, fmt: str) -> None:
    token = zoning(client, fmt, submit_key)
    assert token_answer(client, fmt, token)["service_request_id"] in (None, "")
    acknowledge_primary(app, token)
    rid = token_answer(client, fmt, token)["service_request_id"]
    assert rid == public_id_for_token(app, token)
    got = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)[0]
    assert got["service_code"] == "ZONING"
    assert got["status"] == "open"
    # The token resolves with the jurisdiction named too.
    assert (
        token_answer(client, fmt, token, jurisdiction_id="newhavenct.gov")["service_request_id"]
        == rid
    )


def test_token_json_shape(client: Any, submit_key: str) -> None:
    token = zoning(client, "json", submit_key)
    body = client.get(api(f"tokens/{token}.json")).get_json()
    assert body == [{"service_request_id": None, "token": token}]


def test_unknown_token_is_404(client: Any, submit_key: str, fmt: str) -> None:
    token = zoning(client, fmt, submit_key)
    for wrong in ("123", token + "0", "nothing"):
        response = client.get(api(f"tokens/{wrong}.{fmt}"))
        assert response.status_code == 404, wrong
        assert text(errors(response, fmt)[0]["code"]) == "404"
    for other in ("hamdenct.gov", "nowhere.gov"):
        response = client.get(api(f"tokens/{token}.{fmt}"), query_string={"jurisdiction_id": other})
        assert response.status_code == 404, other


def test_get_answers_allow_any_origin(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key)
    token = zoning(client, fmt, submit_key)
    for path in (
        f"discovery.{fmt}",
        f"services.{fmt}",
        f"services/POTHOLE.{fmt}",
        f"requests.{fmt}",
        f"requests/{rid}.{fmt}",
        f"tokens/{token}.{fmt}",
    ):
        for headers in ({}, {"Origin": "https://app.example.org"}):
            response = client.get(api(path), headers=headers)
            assert response.status_code == 200, path
            assert response.headers.get("Access-Control-Allow-Origin") == "*", path


# --- batch and blackbox in listings ---------------------------------------------------------


def listed_ids(client: Any, fmt: str, **params: Any) -> list[str]:
    return [r["service_request_id"] for r in listing(client, fmt, **params)]


def test_a_batch_report_is_not_listed_before_its_token_resolves(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    token = zoning(client, fmt, submit_key)
    rid = public_id_for_token(app, token)
    assert rid not in listed_ids(client, fmt)
    assert rid not in listed_ids(client, fmt, service_request_id=rid)
    assert client.get(api(f"requests/{rid}.{fmt}")).status_code == 404
    acknowledge_primary(app, token)
    assert rid in listed_ids(client, fmt)
    assert client.get(api(f"requests/{rid}.{fmt}")).status_code == 200


def test_a_blackbox_report_is_never_listed_with_an_id(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    answer = created(client, fmt, submit_key, service_code="GRAFFITI")
    assert "service_request_id" not in answer
    with app.extensions["open311"].db.read() as session:
        rid = session.scalar(
            select(ServiceRequest.public_id).where(ServiceRequest.service_code == "GRAFFITI")
        )
    assert rid
    assert rid not in listed_ids(client, fmt)
    assert rid not in listed_ids(client, fmt, service_code="GRAFFITI")
    assert client.get(api(f"requests/{rid}.{fmt}")).status_code == 404
    # Its agency's staff still see it: the gateway holds it for them.
    staff = make_key(app, "pw-staff", role="staff", agency="nhv-public-works")
    assert rid in listed_ids(client, fmt, api_key=staff, service_code="GRAFFITI")
