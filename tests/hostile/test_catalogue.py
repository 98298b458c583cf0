"""The hostile-input catalogue: one test per kind of hostile input, each answered with a 4xx
Open311 error list in the requested format, nothing stored half-way (every table's rows
counted before and after), never a 5xx. The items of issue 8 have their own files beside
this one (dates, control characters, encodings, lists, contact, replays, back-end updates,
raw HTTP, slow clients); this file holds the rest of the catalogue. Where an input is
accepted (SQL or HTML text, unknown attributes), what is stored and answered is checked.

Many of these held before the catalogue was written; each was checked to fail when its
guard is broken once (see the commit that added this file)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from werkzeug.datastructures import MultiDict

from open311.models import ServiceRequest
from tests.conftest import make_key
from tests.helpers import NEW_HAVEN_GREEN, parse

from .conftest import API, Unchanged, refused

LAT, LONG = (str(c) for c in NEW_HAVEN_GREEN)


def _report(**fields: Any) -> dict[str, Any]:
    return {"service_code": "POTHOLE", "lat": LAT, "long": LONG, **fields}


def _post(client: Any, fmt: str, key: str, data: Any) -> Any:
    if isinstance(data, MultiDict):
        data.add("api_key", key)
    else:
        data = {"api_key": key, **data}
    return client.post(f"{API}/requests.{fmt}", data=data)


# --- Bodies over the limit ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # Over MAX_CONTENT_LENGTH (2 MiB) as a whole.
        (b"description=" + b"a" * (2 * 1024 * 1024 + 10), "application/x-www-form-urlencoded"),
        # One multipart field over MAX_FORM_MEMORY_SIZE (512 KiB), the body under 2 MiB.
        (
            b'--b\r\nContent-Disposition: form-data; name="description"\r\n\r\n'
            + b"a" * (600 * 1024)
            + b"\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
    ],
    ids=["whole-body", "one-field"],
)
def test_a_body_over_the_limit_is_a_413(
    app: Any, client: Any, fmt: str, submit_key: str, body: bytes, content_type: str
) -> None:
    with Unchanged(app):
        response = client.post(
            f"{API}/requests.{fmt}?api_key={submit_key}&service_code=POTHOLE&lat={LAT}&long={LONG}",
            data=body,
            content_type=content_type,
        )
        refused(response, fmt, 413, "too large")


# --- Coordinates ------------------------------------------------------------------------


BAD_POINTS = [
    ("nan", LONG),
    (LAT, "NaN"),
    ("inf", LONG),
    (LAT, "-Infinity"),
    ("1e400", LONG),
    ("90.0001", LONG),
    (LAT, "-180.5"),
    ("-91", LONG),
    ("41,3", LONG),
    ("0x29", LONG),
    ("", LONG),
]


@pytest.mark.parametrize(("lat", "long"), BAD_POINTS)
def test_an_impossible_point_in_a_report_is_a_400(
    app: Any, client: Any, fmt: str, submit_key: str, lat: str, long: str
) -> None:
    name = "lat" if lat != LAT else "long"  # named, not refused by a later rule
    with Unchanged(app):
        refused(_post(client, fmt, submit_key, _report(lat=lat, long=long)), fmt, 400, f"{name}:")


@pytest.mark.parametrize(("lat", "long"), BAD_POINTS)
@pytest.mark.parametrize("resource", ["requests", "services"])
def test_an_impossible_point_in_a_query_is_a_400(
    client: Any, fmt: str, resource: str, lat: str, long: str
) -> None:
    response = client.get(f"{API}/{resource}.{fmt}", query_string={"lat": lat, "long": long})
    refused(response, fmt, 400, f"{'lat' if lat != LAT else 'long'}:")


@pytest.mark.parametrize(
    "bbox",
    [
        "nan,41,-72,42",
        "-73,41,inf,42",
        "-73,41,-72",
        "-73,41,-72,42,1",
        "-200,41,-72,42",
        "-72,41,-73,42",  # min over max
        "-80,30,-60,50",  # a whole coast
        "1e400,1,2,3",
    ],
)
def test_an_impossible_bbox_is_a_400(client: Any, fmt: str, bbox: str) -> None:
    refused(client.get(f"{API}/requests.{fmt}", query_string={"bbox": bbox}), fmt, 400, "bbox")


# --- Over-long text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        (_report(description="d" * 4001), "description"),
        (_report(address_string="a" * 1001), "address_string"),
        (_report(address_id="a" * 201), "address_id"),
        (_report(zipcode="0" * 21), "zipcode"),
        (_report(first_name="f" * 201), "first_name"),
        (_report(email="e" * 310 + "@example.org"), "email"),
        (_report(phone="1" * 65), "phone"),
        (_report(device_id="d" * 201), "device_id"),
        (_report(service_code="P" * 101), "service_code"),
        ({**_report(service_code="LEAK"), "attribute[DETAILS]": "x" * 4001}, "DETAILS"),
        (
            {**_report(service_code="STREETLIGHT"), "attribute[POLE_NUMBER]": "9" * 256},
            "POLE_NUMBER",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_over_long_text_is_a_400_not_cut(
    app: Any, client: Any, fmt: str, submit_key: str, fields: dict[str, Any], name: str
) -> None:
    with Unchanged(app):
        refused(_post(client, fmt, submit_key, fields), fmt, 400, name)


def test_over_long_texts_elsewhere_are_a_400(app: Any, client: Any, fmt: str) -> None:
    key = make_key(app, "resident-app")
    response = _post(client, "json", key, _report())
    rid = parse(response, "json")[0]["service_request_id"]
    cases = [
        (
            f"{API}/servicerequestupdates.{fmt}",
            {"api_key": key, "service_request_id": rid, "description": "u" * 4001},
            "description",
        ),
        (
            f"{API}/servicerequestupdates.{fmt}",
            {"api_key": key, "service_request_id": rid, "description": "x", "update_id": "i" * 201},
            "update_id",
        ),
        (f"{API}/requests.{fmt}", {"api_key": key, **_report(), "language": "x" * 36}, "language"),
    ]
    staff = make_key(app, "works-clerk", "staff", "nhv-public-works")
    with Unchanged(app):
        for url, data, name in cases:
            refused(client.post(url, data=data), fmt, 400, name)
        for name in ("status_notes", "internal_note"):
            response = client.post(
                f"{API}/staff/requests/{rid}/status.{fmt}",
                data={"status": "open", name: "n" * 4001},
                headers={"X-API-Key": staff},
            )
            refused(response, fmt, 400, name)


# --- Attributes -------------------------------------------------------------------------


def _stored_attributes(app: Any) -> list[dict[str, Any]]:
    with app.extensions["open311"].db.read() as session:
        return list(session.scalars(select(ServiceRequest.attributes)))


def test_thousands_of_unknown_attributes_are_neither_stored_nor_echoed(
    app: Any, client: Any, fmt: str, submit_key: str
) -> None:
    data = MultiDict(_report(**{"attribute[DEPTH_CM]": "12"}))
    for n in range(5000):
        data.add(f"attribute[EXTRA_{n}]", f"junk-{n}")
    response = _post(client, fmt, submit_key, data)
    assert response.status_code == 200, response.data[:300]
    assert b"EXTRA_" not in response.data and b"junk-" not in response.data
    assert _stored_attributes(app) == [{"DEPTH_CM": "12"}]
    rid = parse(response, fmt)[0]["service_request_id"]
    staff = make_key(app, "works-clerk", "staff", "nhv-public-works")
    for who in ({}, {"X-API-Key": staff}):
        read = client.get(
            f"{API}/requests/{rid}.{fmt}", query_string={"extensions": "true"}, headers=who
        )
        assert read.status_code == 200 and b"EXTRA_" not in read.data


@pytest.mark.parametrize(
    "key",
    [
        "attribute[",
        "attribute[]",
        "attribute[[WHAT]]",
        "attribute[WHAT][x]",
        "attribute[WHAT]][",
        "attribute[WHAT",
        "attribute]WHAT[",
        "attribute[WHAT][0][1]",
        "attribute[WH\tAT]",
        "attribute[" + "W" * 5000 + "]",
        "ATTRIBUTE[WHAT]",
    ],
)
def test_a_malformed_attribute_key_answers_nothing_and_stores_nothing(
    app: Any, client: Any, fmt: str, submit_key: str, key: str
) -> None:
    """ILLEGAL_DUMPING requires WHAT: a malformed key is no answer, so it is missing."""
    with Unchanged(app):
        response = _post(
            client, fmt, submit_key, _report(service_code="ILLEGAL_DUMPING", **{key: "tires"})
        )
        refused(response, fmt, 400, "WHAT is required")
    assert key.encode()[:40] not in response.data


def test_a_malformed_key_beside_a_good_one_is_not_stored(
    app: Any, client: Any, fmt: str, submit_key: str
) -> None:
    data = _report(
        service_code="ILLEGAL_DUMPING",
        **{
            "attribute[WHAT]": "tires",
            "attribute[WHAT][x]": "other",
            "attribute[[BLOCKING]]": "street",
        },
    )
    response = _post(client, fmt, submit_key, data)
    assert response.status_code == 200, response.data
    assert _stored_attributes(app) == [{"WHAT": "tires"}]


# --- SQL and HTML ---------------------------------------------------------------------


HOSTILE_TEXT = [
    "'; DROP TABLE service_request; --",
    "1' OR '1'='1",
    'Robert"); DELETE FROM api_key WHERE ("1"="1',
    "<script>alert('x')</script>",
    "<![CDATA[ ]]> &amp; &lt;b&gt; <!-- -->",
    "]]><evil/>",
    "{{7*7}} ${7*7} %s %n",
]


@pytest.mark.parametrize("value", HOSTILE_TEXT)
def test_sql_and_html_are_stored_verbatim_and_escaped_in_xml(
    app: Any, client: Any, fmt: str, submit_key: str, value: str
) -> None:
    response = _post(client, fmt, submit_key, _report(description=value, address_string=value))
    assert response.status_code == 200, response.data
    rid = parse(response, fmt)[0]["service_request_id"]
    with app.extensions["open311"].db.read() as session:
        stored = session.scalar(select(ServiceRequest.description))
        tables = session.execute(text("SELECT COUNT(*) FROM service_request")).scalar()
    assert stored == value and tables == 1
    for read_fmt in ("json", "xml"):
        read = client.get(f"{API}/requests/{rid}.{read_fmt}")
        [record] = parse(read, read_fmt)  # the XML parses: nothing was injected
        assert record["description"] == value and record["address"] == value
        if read_fmt == "xml":
            assert b"<script>" not in read.data and b"<evil/>" not in read.data


@pytest.mark.parametrize("value", HOSTILE_TEXT[:3])
@pytest.mark.parametrize(
    "name", ["service_request_id", "service_code", "agency_responsible", "jurisdiction_id"]
)
def test_sql_in_a_filter_finds_nothing(
    app: Any, client: Any, fmt: str, name: str, value: str
) -> None:
    _post(client, "json", make_key(app, "resident-app"), _report())
    with Unchanged(app):
        response = client.get(f"{API}/requests.{fmt}", query_string={name: value})
    if response.status_code == 200:
        assert parse(response, fmt) in ([], None)
    else:
        refused(response, fmt, 404)


# --- Page sizes and radii -------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "params", "name"),
    [
        ("requests", {"page_size": "1001"}, "page_size"),
        ("requests", {"page_size": "10" * 20}, "page_size"),
        ("requests", {"page_size": "0"}, "page_size"),
        ("requests", {"page_size": "-5"}, "page_size"),
        ("requests", {"page_size": "1e3"}, "page_size"),
        ("requests", {"page": "0"}, "page"),
        ("requests", {"page": "100001"}, "page"),
        ("requests", {"page": "9" * 400}, "page"),
        ("requests", {"lat": LAT, "long": LONG, "radius": "5001"}, "radius"),
        ("requests", {"lat": LAT, "long": LONG, "radius": "1e309"}, "radius"),
        ("requests", {"lat": LAT, "long": LONG, "radius": "-1"}, "radius"),
        ("requests", {"lat": LAT, "long": LONG, "radius": "nan"}, "radius"),
        ("requests", {"radius": "100"}, "radius"),
        ("servicerequestupdates", {"page_size": "1001"}, "page_size"),
        ("servicerequestupdates", {"page_size": "99999999999999999999"}, "page_size"),
    ],
)
def test_huge_pages_and_radii_are_a_400(
    client: Any, fmt: str, resource: str, params: dict[str, str], name: str
) -> None:
    refused(client.get(f"{API}/{resource}.{fmt}", query_string=params), fmt, 400, name)


def test_a_huge_staff_page_is_a_400(app: Any, client: Any, fmt: str) -> None:
    staff = make_key(app, "works-clerk", "staff", "nhv-public-works")
    for limit in ("1001", "0", "9" * 100):
        response = client.get(
            f"{API}/staff/requests.{fmt}",
            query_string={"limit": limit},
            headers={"X-API-Key": staff},
        )
        refused(response, fmt, 400, "limit")


# --- Unknown formats and methods -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "requests.txt",
        "requests.html",
        "requests.JSON",
        "requests.json.bak",
        "services.yaml",
        "services",
        "discovery.php",
        "requests/NHV-1.jsonp",
        "requests.json;.xml",
        "..%2fservices.json",
    ],
)
def test_an_unknown_format_is_a_404_error_list(client: Any, path: str) -> None:
    response = client.get(f"{API}/{path}")
    fmt = "xml" if path.endswith(".xml") else "json"
    refused(response, fmt, 404)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "PROPFIND", "TRACE"])
@pytest.mark.parametrize(
    "resource", ["requests", "services", "servicerequestupdates", "requests/NHV-1"]
)
def test_an_unknown_method_is_a_405_error_list(
    app: Any, client: Any, fmt: str, method: str, resource: str
) -> None:
    with Unchanged(app):
        response = client.open(f"{API}/{resource}.{fmt}", method=method, data={"x": "1"})
        refused(response, fmt, 405, "not allowed")
    assert "GET" in response.headers["Allow"]


# --- Path tricks in ids -----------------------------------------------------------------


TRICKS = [
    "..",
    "../../etc/passwd",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2F..%2Fopen311.db",
    "NHV-1%2F..%2FNHV-2",
    "..\\..\\windows\\win.ini",
    "%252e%252e%252f",
    "NHV-1;DROP",
    "A" * 10_000,
    "%C0%AE%C0%AE",
]


@pytest.mark.parametrize("trick", TRICKS, ids=lambda t: t[:24])
@pytest.mark.parametrize("template", ["requests/{}", "tokens/{}", "services/{}", "service/{}"])
def test_a_path_trick_in_an_id_finds_nothing(
    app: Any, client: Any, fmt: str, template: str, trick: str
) -> None:
    _post(client, "json", make_key(app, "resident-app"), _report())
    with Unchanged(app):
        response = client.get(f"{API}/{template.format(trick)}.{fmt}")
    assert response.status_code in (400, 404), (response.status_code, response.data[:200])
    refused(response, fmt, response.status_code)
    assert b"root:" not in response.data and b"SQLite format" not in response.data


@pytest.mark.parametrize("trick", TRICKS, ids=lambda t: t[:24])
def test_a_path_trick_in_a_staff_write_changes_nothing(
    app: Any, client: Any, fmt: str, trick: str
) -> None:
    staff = make_key(app, "works-clerk", "staff", "nhv-public-works")
    with Unchanged(app):
        for action in ("status", "claim"):
            response = client.post(
                f"{API}/staff/requests/{trick}/{action}.{fmt}",
                data={"status": "closed"},
                headers={"X-API-Key": staff},
            )
            assert response.status_code in (400, 404), response.data[:200]
            refused(response, fmt, response.status_code)


@pytest.mark.parametrize("trick", TRICKS, ids=lambda t: t[:24])
def test_a_path_trick_for_a_photo_reads_no_file(client: Any, trick: str) -> None:
    response = client.get(f"/media/{trick}")
    assert response.status_code in (400, 404), response.data[:200]
    assert b"root:" not in response.data and b"SQLite format" not in response.data
