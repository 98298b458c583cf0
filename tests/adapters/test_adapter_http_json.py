from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
import requests
import responses

from adapters.base import PermanentFailure, Reference, TemporaryFailure
from adapters.http_json import HttpJsonAdapter
from adapters.settings import SettingsError

from .conftest import keys_named

SINCE = datetime(2024, 5, 2, tzinfo=UTC)
REMOTE = "https://workorders.example.gov/api/work-orders"


def test_default_body_is_the_ticket_as_json(backend, make_ticket) -> None:
    backend.on("POST", "/api/work-orders", status=201, json={"id": 42, "state": "new"})
    adapter = HttpJsonAdapter({"url": backend.url("/api/work-orders")})
    receipt = adapter.submit(make_ticket())

    assert receipt.backend_id == "42"
    (seen,) = backend.received
    assert seen.method == "POST"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Idempotency-Key"] == "NHV-2024-000123:nhv-public-works"
    assert "Authorization" not in seen.headers
    assert seen.json() == {
        "request_id": "NHV-2024-000123",
        "idempotency_key": "NHV-2024-000123:nhv-public-works",
        "destination": "nhv-public-works",
        "jurisdiction_id": "newhaven.ct.us",
        "service_code": "POTHOLE",
        "service_name": "Pothole",
        "requested_datetime": "2024-05-01T12:30:15Z",
        "description": "Deep pothole in the right lane",
        "lat": 41.3083,
        "long": -72.9279,
        "address_string": "165 Church St, New Haven",
        "address_id": None,
        "zipcode": "06510",
        "attributes": {"DEPTH": "deep", "LANES": ["left", "right"]},
        "media_urls": ["https://media.example.org/p/1.jpg", "https://media.example.org/p/2.jpg"],
        "contact": {
            "email": "jane@example.org",
            "phone": "+1 203 555 0100",
            "first_name": "Jane",
            "last_name": "Doe",
            "device_id": "dev-1",
            "account_id": "acct-9",
        },
        "primary": True,
    }


def test_field_mapping(backend, make_ticket) -> None:
    backend.on("POST", "/wo", json={"data": {"workOrder": {"id": "WO-77"}}})
    adapter = HttpJsonAdapter(
        {
            "url": backend.url("/wo"),
            "id_path": "data.workOrder.id",
            "fields": {
                "externalId": "request_id",
                "summary": "description",
                "location.lat": "lat",
                "location.lng": "long",
                "location.address": "address_string",
                "location.parcel": "address_id",  # None on this ticket: left out
                "category": {"const": "ROADS"},
                "priority": {"const": 2},
                "legacyFlag": {"const": None},
                "details.depth": "attributes.DEPTH",
                "details.lanes": "attributes.LANES",
                "details.width": "attributes.WIDTH",  # absent attribute: left out
                "reporter.email": "contact.email",
                "reporter.name": "contact.last_name",
                "photo": "media_urls.0",
                "reportedAt": "requested_datetime",
            },
        }
    )
    receipt = adapter.submit(make_ticket(description='Says "hi" – ünïcode'))
    assert receipt.backend_id == "WO-77"
    assert backend.received[0].json() == {
        "externalId": "NHV-2024-000123",
        "summary": 'Says "hi" – ünïcode',
        "location": {"lat": 41.3083, "lng": -72.9279, "address": "165 Church St, New Haven"},
        "category": "ROADS",
        "priority": 2,
        "legacyFlag": None,
        "details": {"depth": "deep", "lanes": ["left", "right"]},
        "reporter": {"email": "jane@example.org", "name": "Doe"},
        "photo": "https://media.example.org/p/1.jpg",
        "reportedAt": "2024-05-01T12:30:15Z",
    }


def test_put_to_a_url_naming_the_request(backend, make_ticket) -> None:
    backend.on("PUT", "/orders/NHV/1", json={"id": "NHV/1"})
    adapter = HttpJsonAdapter({"url": backend.url("/orders/{request_id}"), "method": "PUT"})
    assert adapter.submit(make_ticket(request_id="NHV/1")).backend_id == "NHV/1"
    assert backend.received[0].method == "PUT"
    assert backend.received[0].raw_path == "/orders/NHV%2F1"


# --- authentication ---------------------------------------------------------------------


def test_bearer_auth(backend, make_ticket) -> None:
    backend.on("POST", "/wo", json={"id": 1})
    HttpJsonAdapter(
        {"url": backend.url("/wo"), "auth": {"type": "bearer", "token": "tok-abc"}}
    ).submit(make_ticket())
    assert backend.received[0].headers["Authorization"] == "Bearer tok-abc"


def test_basic_auth(backend, make_ticket) -> None:
    backend.on("POST", "/wo", json={"id": 1})
    HttpJsonAdapter(
        {
            "url": backend.url("/wo"),
            "auth": {"type": "basic", "username": "gateway", "password": "pä:ss"},
        }
    ).submit(make_ticket())
    scheme, _, encoded = backend.received[0].headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    # requests encodes basic credentials as Latin-1, as RFC 7617 allows.
    assert base64.b64decode(encoded) == "gateway:pä:ss".encode("latin-1")


@pytest.mark.parametrize(
    ("auth", "header", "algorithm"),
    [
        ({"type": "hmac", "secret": "sh4red"}, "X-Signature", hashlib.sha256),
        (
            {
                "type": "hmac",
                "secret": "sh4red",
                "header": "X-Hub-Signature",
                "algorithm": "sha512",
            },
            "X-Hub-Signature",
            hashlib.sha512,
        ),
    ],
)
def test_hmac_signature_verifies_on_the_server(
    backend, make_ticket, auth, header, algorithm
) -> None:
    def verify(received):
        expected = hmac.new(b"sh4red", received.body, algorithm).hexdigest()
        name = algorithm().name
        ok = hmac.compare_digest(received.headers.get(header, ""), f"{name}={expected}")
        return (201, {"id": "signed"}) if ok else (401, {"error": "bad signature"})

    backend.on("POST", "/wo", verify)
    adapter = HttpJsonAdapter({"url": backend.url("/wo"), "auth": auth})
    receipt = adapter.submit(make_ticket(description="ünïcode <&> body"))
    assert receipt.backend_id == "signed"


def test_hmac_mismatch_is_seen_by_the_server(backend, make_ticket) -> None:
    def verify(received):
        expected = hmac.new(b"other-secret", received.body, hashlib.sha256).hexdigest()
        ok = received.headers.get("X-Signature") == f"sha256={expected}"
        return (201, {"id": "signed"}) if ok else (401, {"error": "bad signature"})

    backend.on("POST", "/wo", verify)
    adapter = HttpJsonAdapter(
        {"url": backend.url("/wo"), "auth": {"type": "hmac", "secret": "sh4red"}}
    )
    with pytest.raises(PermanentFailure, match="401"):
        adapter.submit(make_ticket())


# --- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected", "retry_after"),
    [
        ({"status": 500, "body": "oops"}, TemporaryFailure, None),
        ({"status": 503, "headers": {"Retry-After": "45"}}, TemporaryFailure, 45.0),
        ({"status": 429, "headers": {"Retry-After": "3"}}, TemporaryFailure, 3.0),
        ({"status": 400, "json": {"error": "bad category"}}, PermanentFailure, None),
        ({"status": 404}, PermanentFailure, None),
        ({"status": 422, "json": {"error": "invalid"}}, PermanentFailure, None),
        ({"status": 200, "body": "{not json"}, TemporaryFailure, None),
        ({"status": 200, "body": ""}, TemporaryFailure, None),
        ({"status": 201, "json": {"created": True}}, TemporaryFailure, None),
        ({"status": 201, "json": {"id": None}}, TemporaryFailure, None),
        ({"status": 201, "json": [1, 2]}, TemporaryFailure, None),
        ({"body": requests.exceptions.ConnectTimeout("connect")}, TemporaryFailure, None),
        ({"body": requests.exceptions.ReadTimeout("read")}, TemporaryFailure, None),
        ({"body": requests.exceptions.ConnectionError("refused")}, TemporaryFailure, None),
    ],
)
@responses.activate
def test_failure_classification(answer, expected, retry_after, make_ticket) -> None:
    responses.post(REMOTE, **answer)
    with pytest.raises(expected) as info:
        HttpJsonAdapter({"url": REMOTE}).submit(make_ticket())
    assert info.value.retry_after == retry_after
    assert info.value.retryable is (expected is TemporaryFailure)


def test_refused_connection(closed_port, make_ticket) -> None:
    adapter = HttpJsonAdapter({"url": f"http://127.0.0.1:{closed_port}/wo"})
    with pytest.raises(TemporaryFailure):
        adapter.submit(make_ticket())


def test_timeout_setting_is_used(backend, make_ticket) -> None:
    backend.on("POST", "/wo", json={"id": 1}, delay=1.0)
    adapter = HttpJsonAdapter({"url": backend.url("/wo"), "timeout": 0.2})
    with pytest.raises(TemporaryFailure, match="timed out"):
        adapter.submit(make_ticket())


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({}, "url"),
        ({"url": "workorders"}, "url"),
        ({"url": REMOTE + "/{ticket}"}, "url"),
        ({"url": REMOTE, "method": "DELETE"}, "method"),
        ({"url": REMOTE, "fields": {"a": "secret"}}, "fields.a"),
        ({"url": REMOTE, "fields": {"a": "contact.ssn"}}, "fields.a"),
        ({"url": REMOTE, "fields": {"a": "description.text"}}, "fields.a"),
        ({"url": REMOTE, "fields": {"a": {"value": 1}}}, "fields.a"),
        ({"url": REMOTE, "fields": {"loc": "lat", "loc.lat": "lat"}}, "fields.loc.lat"),
        ({"url": REMOTE, "fields": []}, "fields"),
        ({"url": REMOTE, "status": {"since_param": "x"}}, "status.url"),
        (
            {"url": REMOTE, "status": {"url": REMOTE + "/{backend_id}", "feed_url": REMOTE}},
            "status.url",
        ),
        ({"url": REMOTE, "status": {"url": REMOTE}}, "status.url"),
        (
            {"url": REMOTE, "status": {"feed_url": REMOTE, "value_map": {"x": "done"}}},
            "status.value_map.x",
        ),
        ({"url": REMOTE, "auth": {"type": "bearer"}}, "auth.token"),
        ({"url": REMOTE, "status": {"feed_url": REMOTE, "detailed": True}}, "status.detailed"),
    ],
)
def test_bad_settings_name_the_key(settings, key) -> None:
    with pytest.raises(SettingsError) as info:
        HttpJsonAdapter(settings)
    assert key in keys_named(info.value), info.value.lines


# --- status -----------------------------------------------------------------------------

VALUE_MAP = {"NEW": "open", "ASSIGNED": "open", "DONE": "closed", "CANCELLED": "closed"}


def test_status_per_id(backend) -> None:
    orders = {
        "WO-1": {"state": "DONE", "notes": "Patched", "modified": "2024-05-03T10:00:00Z"},
        "WO-2": {"state": "ASSIGNED", "notes": None, "modified": "2024-05-01T10:00:00Z"},
        "WO 3": {"state": "ON_HOLD", "notes": "Waiting for asphalt", "modified": 1714730400},
    }
    for backend_id, order in orders.items():
        backend.on("GET", f"/wo/{backend_id}", json={"data": order})
    backend.on("GET", "/wo/WO-gone", status=404, json={"error": "deleted"})

    adapter = HttpJsonAdapter(
        {
            "url": backend.url("/wo"),
            "status": {
                "url": backend.url("/wo/{backend_id}"),
                "status_path": "data.state",
                "notes_path": "data.notes",
                "updated_path": "data.modified",
                "value_map": VALUE_MAP,
                "detailed_status": True,
            },
        }
    )
    assert adapter.needs_references is True
    refs = [Reference(backend_id=i) for i in ("WO-1", "WO-2", "WO 3", "WO-gone")]
    refs.append(Reference(backend_id=None, backend_token="ignored"))
    updates = {u.backend_id: u for u in adapter.fetch_updates(SINCE, refs)}

    assert set(updates) == {"WO-1", "WO 3"}  # WO-2 unchanged since SINCE, WO-gone deleted
    assert updates["WO-1"].status == "closed"
    assert updates["WO-1"].detailed_status == "DONE"
    assert updates["WO-1"].status_notes == "Patched"
    assert updates["WO-1"].updated_datetime == datetime(2024, 5, 3, 10, tzinfo=UTC)
    assert updates["WO 3"].status == "open"
    assert updates["WO 3"].detailed_status == "ON_HOLD"
    assert updates["WO 3"].updated_datetime == datetime(2024, 5, 3, 10, tzinfo=UTC)
    assert sorted(r.raw_path for r in backend.received) == [
        "/wo/WO%203",
        "/wo/WO-1",
        "/wo/WO-2",
        "/wo/WO-gone",
    ]


def test_status_feed(backend) -> None:
    backend.on(
        "GET",
        "/changes",
        json={
            "data": {
                "changes": [
                    {"workOrderId": 11, "state": "DONE", "at": "2024-05-02T01:00:00Z"},
                    {"workOrderId": 12, "state": "ASSIGNED", "at": "2024-05-02T02:00:00Z"},
                    {"workOrderId": 13, "state": "PAUSED", "at": "2024-05-02T03:00:00Z"},
                    {"state": "DONE", "at": "2024-05-02T04:00:00Z"},
                    {"workOrderId": 14, "state": "DONE", "at": "2024-05-01T04:00:00Z"},
                ]
            }
        },
    )
    adapter = HttpJsonAdapter(
        {
            "url": backend.url("/wo"),
            "auth": {"type": "bearer", "token": "t"},
            "status": {
                "feed_url": backend.url("/changes"),
                "since_param": "modifiedSince",
                "items_path": "data.changes",
                "id_path": "workOrderId",
                "status_path": "state",
                "updated_path": "at",
                "value_map": VALUE_MAP,
                "detailed_status": False,
            },
        }
    )
    assert adapter.needs_references is False
    updates = adapter.fetch_updates(SINCE)

    assert [(u.backend_id, u.status, u.detailed_status) for u in updates] == [
        ("11", "closed", None),
        ("12", "open", None),
        ("13", "open", "PAUSED"),  # unknown word: kept even with detailed_status off
    ]
    (seen,) = backend.received
    assert seen.query == {"modifiedSince": ["2024-05-02T00:00:00Z"]}
    assert seen.headers["Authorization"] == "Bearer t"
    assert "Idempotency-Key" not in seen.headers


def test_feed_that_is_a_bare_list(backend) -> None:
    backend.on("GET", "/changes", json=[{"id": "a", "status": "closed"}])
    adapter = HttpJsonAdapter(
        {"url": backend.url("/wo"), "status": {"feed_url": backend.url("/changes")}}
    )
    (update,) = adapter.fetch_updates(SINCE)
    assert (update.backend_id, update.status) == ("a", "closed")
    # No change time in the answer: the time of looking stands in for it.
    assert update.updated_datetime >= SINCE


@pytest.mark.parametrize(
    "answer",
    [{"status": 502}, {"status": 200, "body": "<html>"}, {"status": 200, "json": {"items": 3}}],
)
@responses.activate
def test_feed_failures_are_temporary(answer) -> None:
    responses.get(REMOTE + "/changes", **answer)
    adapter = HttpJsonAdapter({"url": REMOTE, "status": {"feed_url": REMOTE + "/changes"}})
    with pytest.raises(TemporaryFailure):
        adapter.fetch_updates(SINCE)


def test_without_status_settings_there_are_no_updates(backend) -> None:
    adapter = HttpJsonAdapter({"url": backend.url("/wo")})
    assert adapter.needs_references is False
    assert adapter.fetch_updates(SINCE, [Reference(backend_id="1")]) == []
    assert backend.received == []
