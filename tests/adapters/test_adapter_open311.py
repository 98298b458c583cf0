from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import responses

from adapters.base import PermanentFailure, Reference, TemporaryFailure, UpdateTicket
from adapters.open311_upstream import Open311Adapter
from adapters.settings import SettingsError

from .conftest import keys_named

SINCE = datetime(2024, 5, 2, 0, 0, tzinfo=UTC)


def adapter_for(backend, **settings) -> Open311Adapter:
    base = {
        "endpoint": backend.url("/open311/v2"),
        "api_key": "KEY-123",
        "jurisdiction_id": "newhaven.ct.us",
        "service_codes": {"POTHOLE": "4fd3b167e750846744000005"},
    }
    base.update(settings)
    return Open311Adapter(base)


# --- submission -------------------------------------------------------------------------


def test_submit_posts_the_georeport_form(backend, make_ticket) -> None:
    backend.on("POST", "/open311/v2/requests.json", json=[{"service_request_id": "638344"}])
    receipt = adapter_for(backend).submit(make_ticket())

    assert receipt.backend_id == "638344"
    assert receipt.backend_token is None
    (seen,) = backend.received
    assert seen.headers["Idempotency-Key"] == "NHV-2024-000123:nhv-public-works"
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = seen.form()
    assert form == {
        "api_key": ["KEY-123"],
        "jurisdiction_id": ["newhaven.ct.us"],
        "service_code": ["4fd3b167e750846744000005"],
        "lat": ["41.3083"],
        "long": ["-72.9279"],
        "address_string": ["165 Church St, New Haven"],
        "description": ["Deep pothole in the right lane"],
        "media_url": ["https://media.example.org/p/1.jpg"],
        "email": ["jane@example.org"],
        "phone": ["+1 203 555 0100"],
        "first_name": ["Jane"],
        "last_name": ["Doe"],
        "device_id": ["dev-1"],
        "account_id": ["acct-9"],
        "attribute[DEPTH]": ["deep"],
        "attribute[LANES][]": ["left", "right"],
    }


def test_unmapped_service_code_passes_through_and_contact_can_be_withheld(
    backend, make_ticket
) -> None:
    backend.on("POST", "/open311/v2/requests.json", json=[{"service_request_id": 9}])
    adapter = adapter_for(backend, send_contact=False, jurisdiction_id=None)
    receipt = adapter.submit(make_ticket(service_code="GRAFFITI"))
    assert receipt.backend_id == "9"
    form = backend.received[0].form()
    assert form["service_code"] == ["GRAFFITI"]
    assert "jurisdiction_id" not in form
    for key in ("email", "phone", "first_name", "last_name", "device_id", "account_id"):
        assert key not in form


def test_endpoint_with_trailing_slash(backend, make_ticket) -> None:
    backend.on("POST", "/open311/v2/requests.json", json=[{"service_request_id": "1"}])
    adapter_for(backend, endpoint=backend.url("/open311/v2/")).submit(make_ticket())
    assert backend.received[0].path == "/open311/v2/requests.json"


def test_token_answer(backend, make_ticket) -> None:
    backend.on("POST", "/open311/v2/requests.json", json=[{"token": "12345"}])
    receipt = adapter_for(backend).submit(make_ticket())
    assert receipt == type(receipt)(backend_token="12345")


def test_answer_with_id_and_token_keeps_both(backend, make_ticket) -> None:
    backend.on(
        "POST", "/open311/v2/requests.json", json=[{"service_request_id": "7", "token": "t7"}]
    )
    receipt = adapter_for(backend).submit(make_ticket())
    assert (receipt.backend_id, receipt.backend_token) == ("7", "t7")


def test_xml_submit_and_token(backend, make_ticket) -> None:
    backend.on(
        "POST",
        "/open311/v2/requests.xml",
        body="""<?xml version="1.0" encoding="utf-8"?>
        <service_requests><request><token>abc-77</token>
        <service_notice>Thanks</service_notice></request></service_requests>""",
    )
    receipt = adapter_for(backend, format="xml").submit(make_ticket())
    assert receipt.backend_token == "abc-77"
    assert receipt.backend_id is None
    assert backend.received[0].form()["api_key"] == ["KEY-123"]


def test_xml_errors_body_with_403_is_permanent(backend, make_ticket) -> None:
    backend.on(
        "POST",
        "/open311/v2/requests.xml",
        status=403,
        body="<errors><error><code>403</code><description>Invalid api_key</description>"
        "</error></errors>",
    )
    with pytest.raises(PermanentFailure, match="Invalid api_key"):
        adapter_for(backend, format="xml").submit(make_ticket())


def test_errors_body_with_200_is_classified_by_its_code(backend, make_ticket) -> None:
    backend.on(
        "POST",
        "/open311/v2/requests.json",
        json=[{"code": 400, "description": "service_code not found"}],
    )
    with pytest.raises(PermanentFailure, match="service_code not found"):
        adapter_for(backend).submit(make_ticket())
    backend.on(
        "POST",
        "/open311/v2/requests.json",
        json=[{"code": 503, "description": "maintenance"}],
    )
    with pytest.raises(TemporaryFailure, match="maintenance"):
        adapter_for(backend).submit(make_ticket())


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"status": 500, "json": [{"code": 500, "description": "boom"}]}, TemporaryFailure),
        ({"status": 400, "json": [{"code": 400, "description": "lat missing"}]}, PermanentFailure),
        ({"status": 404, "body": "not found"}, PermanentFailure),
        ({"status": 200, "body": "<html>maintenance</html>"}, TemporaryFailure),
        ({"status": 200, "json": [{"service_notice": "ok"}]}, TemporaryFailure),
        ({"status": 200, "json": []}, TemporaryFailure),
        ({"status": 200, "json": {"unexpected": True}}, TemporaryFailure),
    ],
)
@responses.activate
def test_failures(answer, expected, make_ticket) -> None:
    responses.post("https://open311.example.gov/v2/requests.json", **answer)
    adapter = Open311Adapter({"endpoint": "https://open311.example.gov/v2", "api_key": "k"})
    with pytest.raises(expected):
        adapter.submit(make_ticket())


@responses.activate
def test_503_with_retry_after(make_ticket) -> None:
    responses.post(
        "https://open311.example.gov/v2/requests.json",
        status=503,
        headers={"Retry-After": "120"},
    )
    adapter = Open311Adapter({"endpoint": "https://open311.example.gov/v2"})
    with pytest.raises(TemporaryFailure) as info:
        adapter.submit(make_ticket())
    assert info.value.retry_after == 120.0


@responses.activate
def test_timeout_is_temporary(make_ticket) -> None:
    responses.post(
        "https://open311.example.gov/v2/requests.json",
        body=requests.exceptions.ReadTimeout("slow"),
    )
    adapter = Open311Adapter({"endpoint": "https://open311.example.gov/v2"})
    with pytest.raises(TemporaryFailure, match="timed out"):
        adapter.submit(make_ticket())


def test_refused_connection_is_temporary(closed_port, make_ticket) -> None:
    adapter = Open311Adapter({"endpoint": f"http://127.0.0.1:{closed_port}/v2"})
    with pytest.raises(TemporaryFailure):
        adapter.submit(make_ticket())


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({}, "endpoint"),
        ({"endpoint": "ftp://x.org"}, "endpoint"),
        ({"endpoint": "https://x.org", "format": "yaml"}, "format"),
        ({"endpoint": "https://x.org", "service_codes": ["a"]}, "service_codes"),
        ({"endpoint": "https://x.org", "send_contact": "yes"}, "send_contact"),
        ({"endpoint": "https://x.org", "fomat": "xml"}, "fomat"),
    ],
)
def test_bad_settings_name_the_key(settings, key) -> None:
    with pytest.raises(SettingsError) as info:
        Open311Adapter(settings)
    assert key in keys_named(info.value), info.value.lines


# --- status -----------------------------------------------------------------------------


def _status_records(ids: list[str]) -> list[dict]:
    table = {
        "100": {
            "status": "closed",
            "status_notes": "Filled",
            "agency_responsible": "Public Works",
            "updated_datetime": "2024-05-03T09:00:00-04:00",
            "expected_datetime": "2024-05-04T00:00:00Z",
        },
        # Unchanged since before `since`: must not come back.
        "101": {"status": "open", "updated_datetime": "2024-05-01T10:00:00Z"},
        # Resolved from a token in this very sync; its old change is still news.
        "102": {"status": "open", "updated_datetime": "2024-05-01T10:05:00Z"},
    }
    return [{"service_request_id": i, **table[i]} for i in ids if i in table]


def test_token_resolution_and_status_pull_json(backend) -> None:
    backend.on(
        "GET",
        "/open311/v2/tokens/tok-1.json",
        json=[{"service_request_id": "102", "token": "tok-1"}],
    )
    backend.on("GET", "/open311/v2/tokens/tok-pending.json", json=[{"token": "tok-pending"}])
    backend.on("GET", "/open311/v2/tokens/tok-unknown.json", status=404, json=[])

    def requests_answer(received):
        from_query = received.query["service_request_id"][0].split(",")
        return 200, _status_records(from_query)

    backend.on("GET", "/open311/v2/requests.json", requests_answer)

    refs = [
        Reference(backend_id=None, backend_token="tok-1"),
        Reference(backend_id=None, backend_token="tok-pending"),
        Reference(backend_id=None, backend_token="tok-unknown"),
        Reference(backend_id="100"),
        Reference(backend_id="101"),
        Reference(backend_id="100"),
    ]
    before = datetime.now(UTC)
    updates = adapter_for(backend).fetch_updates(SINCE, refs)

    resolved = [u for u in updates if u.backend_token]
    assert len(resolved) == 1
    assert resolved[0].backend_id == "102"
    assert resolved[0].backend_token == "tok-1"
    assert resolved[0].status == "open"
    assert resolved[0].updated_datetime >= before

    by_id = {u.backend_id: u for u in updates if not u.backend_token}
    assert set(by_id) == {"100", "102"}
    closed = by_id["100"]
    assert closed.status == "closed"
    assert closed.status_notes == "Filled"
    assert closed.agency_responsible == "Public Works"
    assert closed.updated_datetime == datetime(2024, 5, 3, 13, 0, tzinfo=UTC)
    assert closed.expected_datetime == datetime(2024, 5, 4, tzinfo=UTC)

    (pull,) = backend.requests_to("/open311/v2/requests.json")
    assert sorted(pull.query["service_request_id"][0].split(",")) == ["100", "101", "102"]
    assert pull.query["jurisdiction_id"] == ["newhaven.ct.us"]
    assert "api_key" not in pull.query


def test_status_pull_xml(backend) -> None:
    backend.on(
        "GET",
        "/open311/v2/tokens/t9.xml",
        body="<service_requests><request><service_request_id>55</service_request_id>"
        "<token>t9</token></request></service_requests>",
    )
    backend.on(
        "GET",
        "/open311/v2/requests.xml",
        body="""<?xml version="1.0" encoding="utf-8"?>
        <service_requests>
          <request>
            <service_request_id>55</service_request_id>
            <status>closed</status>
            <status_notes>Duplicate of 54</status_notes>
            <agency_responsible>Public Works</agency_responsible>
            <updated_datetime>2024-05-02T08:00:00Z</updated_datetime>
            <expected_datetime></expected_datetime>
          </request>
          <request>
            <service_request_id>56</service_request_id>
            <status>In Progress</status>
            <updated_datetime>2024-05-02T09:00:00+00:00</updated_datetime>
          </request>
        </service_requests>""",
    )
    adapter = adapter_for(backend, format="xml")
    updates = adapter.fetch_updates(
        SINCE, [Reference(backend_id=None, backend_token="t9"), Reference(backend_id="56")]
    )
    assert [(u.backend_id, u.backend_token) for u in updates if u.backend_token] == [("55", "t9")]
    by_id = {u.backend_id: u for u in updates if not u.backend_token}
    assert by_id["55"].status == "closed"
    assert by_id["55"].status_notes == "Duplicate of 54"
    assert by_id["55"].expected_datetime is None
    # Not a GeoReport status: kept as detailed_status, never taken as closed.
    assert by_id["56"].status == "open"
    assert by_id["56"].detailed_status == "In Progress"
    pull = backend.requests_to("/open311/v2/requests.xml")[0]
    assert pull.query["service_request_id"] == ["55,56"]


def test_ids_are_asked_for_in_chunks_of_fifty(backend) -> None:
    backend.on("GET", "/open311/v2/requests.json", json=[])
    refs = [Reference(backend_id=str(i)) for i in range(120)]
    assert adapter_for(backend).fetch_updates(SINCE, refs) == []
    sizes = [
        len(r.query["service_request_id"][0].split(","))
        for r in backend.requests_to("/open311/v2/requests.json")
    ]
    assert sizes == [50, 50, 20]


def test_no_references_means_no_requests(backend) -> None:
    assert adapter_for(backend).fetch_updates(SINCE, []) == []
    assert backend.received == []


def test_status_server_error_is_temporary(backend) -> None:
    backend.on("GET", "/open311/v2/requests.json", status=502, body="bad gateway")
    with pytest.raises(TemporaryFailure):
        adapter_for(backend).fetch_updates(SINCE, [Reference(backend_id="1")])


# --- updates from the app that filed the report -------------------------------------------


def update_ticket(**overrides) -> UpdateTicket:
    values = {
        "request_id": "NHV-12",
        "backend_id": "638344",
        "update_id": "U5F0C2A9B11D3E7A4",
        "idempotency_key": "NHV-12:nhv-public-works:U5F0C2A9B11D3E7A4",
        "destination": "nhv-public-works",
        "jurisdiction_id": "newhavenct.gov",
        "updated_datetime": datetime(2024, 5, 2, 9, 0, 5, tzinfo=UTC),
        "status": "closed",
        "detailed_status": "fixed",
        "description": "Filled",
    }
    values.update(overrides)
    return UpdateTicket(**values)


def test_an_update_is_posted_as_open311_adapter_expects_it(backend) -> None:
    backend.on("POST", "/open311/v2/servicerequestupdates.json", json=[{"update_id": "UP-9"}])
    receipt = adapter_for(backend).submit_update(update_ticket())
    assert receipt.backend_id == "UP-9"
    (seen,) = backend.received
    assert seen.headers["Idempotency-Key"] == "NHV-12:nhv-public-works:U5F0C2A9B11D3E7A4"
    assert seen.form() == {
        "api_key": ["KEY-123"],
        "jurisdiction_id": ["newhaven.ct.us"],
        "service_request_id": ["638344"],
        "update_id": ["U5F0C2A9B11D3E7A4"],
        "status": ["FIXED"],
        "updated_datetime": ["2024-05-02T09:00:05Z"],
        "description": ["Filled"],
    }


def test_an_update_answer_in_xml_is_read(backend) -> None:
    backend.on(
        "POST",
        "/open311/v2/servicerequestupdates.xml",
        body="<?xml version='1.0'?><service_request_updates><request_update>"
        "<update_id>UP-10</update_id></request_update></service_request_updates>",
    )
    receipt = adapter_for(backend, format="xml").submit_update(update_ticket(detailed_status=None))
    assert receipt.backend_id == "UP-10"
    assert backend.received[0].form()["status"] == ["CLOSED"]


def test_an_update_without_the_upstream_id_or_refused_fails_as_it_should(backend) -> None:
    with pytest.raises(TemporaryFailure):
        adapter_for(backend).submit_update(update_ticket(backend_id=None))
    assert backend.received == []
    backend.on(
        "POST",
        "/open311/v2/servicerequestupdates.json",
        status=400,
        json=[{"code": 400, "description": "update_id missing"}],
    )
    with pytest.raises(PermanentFailure, match="update_id missing"):
        adapter_for(backend).submit_update(update_ticket())
    backend.on("POST", "/open311/v2/servicerequestupdates.json", json=[{"nothing": "here"}])
    with pytest.raises(TemporaryFailure, match="update_id"):
        adapter_for(backend).submit_update(update_ticket())
