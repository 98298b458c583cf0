"""Nothing personal and nothing private ever leaves the gateway in a public answer.

Reports carry distinctive personal values (public ones) and distinctive descriptions and
staff notes (private ones); then every public endpoint is walked, in both formats, with no
key and with a submit key, under every filter, and the raw bytes of each body and header
are searched for those values. Error answers are provoked with personal values in the
request, and the log output of a failing request is searched the same way."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from lxml import etree

from open311.db import utcnow
from open311.logs import redact
from tests.conftest import make_key
from tests.exports.common import export_rows
from tests.helpers import BOSTON, errors, parse

from .common import (
    API,
    EMAIL,
    FORBIDDEN,
    PERSONAL,
    PHONE,
    PRIVATE_CODES,
    PRIVATE_NEIGHBOUR,
    created,
    deliver_all,
    leaks,
    post,
)
from .conftest import Scenario

FORMATS = ("json", "xml")
EXPORTS = ("csv", "geojson")  # open data: requests.csv, requests.geojson
UNKNOWN_ID = "NHV-999999"


def w3c(delta: timedelta) -> str:
    return (utcnow() + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_filters(s: Scenario) -> list[dict[str, str]]:
    """Every filter of GET requests.{fmt}, alone and in the combinations that matter."""
    everything = ",".join([*s.all_ids, UNKNOWN_ID])
    filters: list[dict[str, str]] = [
        {},
        {"service_request_id": everything},
        {"service_request_id": ",".join(s.private_ids)},
        {"service_request_id": s.private_ids[0]},
        {"service_code": ",".join(PRIVATE_CODES)},
        {"service_code": "POTHOLE,ZONING,GRAFFITI," + ",".join(PRIVATE_CODES)},
        {"service_code": PRIVATE_CODES[0], "status": "closed"},
        {"status": "open"},
        {"status": "closed"},
        {"status": "open,closed"},
        {"start_date": w3c(-timedelta(days=1)), "end_date": w3c(timedelta(days=1))},
        {"start_date": w3c(-timedelta(days=1))},
        {"end_date": w3c(timedelta(days=1))},
        {"updated_after": w3c(-timedelta(days=1))},
        {"updated_before": w3c(timedelta(days=1))},
        {"updated_after": w3c(-timedelta(days=1)), "service_code": PRIVATE_CODES[1]},
        {"jurisdiction_id": "newhavenct.gov"},
        {"service_request_id": everything, "jurisdiction_id": "newhavenct.gov"},
        # The gateway's query extensions (map, agency, sort).
        {"lat": "41.3083", "long": "-72.9279"},
        {"lat": "41.3083", "long": "-72.9279", "radius": "5000"},
        {"lat": "41.3083", "long": "-72.9279", "radius": "5000", "service_code": "ZONING"},
        {"bbox": "-73.2,41.1,-72.8,41.5"},
        {"bbox": "-73.2,41.1,-72.8,41.5", "service_code": ",".join(PRIVATE_CODES)},
        {"agency_responsible": "nhv-housing-authority"},
        {"agency_responsible": "New Haven Housing Authority (demo)"},
        {"agency_responsible": "nhv-public-works", "status": "open,closed"},
        {"sort": "-updated_datetime"},
        {"sort": "updated_datetime", "updated_after": w3c(-timedelta(days=1))},
        {"sort": "requested_datetime", "page": "2", "page_size": "2"},
    ]
    for page in (1, 2, 3, 4, 5, 6, 7, 8):
        filters.append({"page": str(page), "page_size": "1"})
    filters.append({"page": "2", "page_size": "3"})
    return filters + [{**f, "extensions": "true"} for f in filters]


def public_walk(s: Scenario) -> list[tuple[str, dict[str, str], int]]:
    """(path with {fmt}, query, expected status) for every public GET."""
    lat, long = "41.3083", "-72.9279"
    walk: list[tuple[str, dict[str, str], int]] = [
        ("/discovery.{fmt}", {}, 200),
        (f"{API}/discovery.{{fmt}}", {}, 200),
        (f"{API}/services.{{fmt}}", {}, 200),
        (f"{API}/services.{{fmt}}", {"lat": lat, "long": long}, 200),
        (f"{API}/services.{{fmt}}", {"jurisdiction_id": "newhavenct.gov"}, 200),
        (f"{API}/servicerequestupdates.{{fmt}}", {}, 200),
        (
            f"{API}/servicerequestupdates.{{fmt}}",
            {"start_date": w3c(-timedelta(days=1)), "end_date": w3c(timedelta(days=1))},
            200,
        ),
        (f"{API}/servicerequestupdates.{{fmt}}", {"start_date": w3c(-timedelta(days=1))}, 200),
    ]
    public_codes = ["POTHOLE", "STREETLIGHT", "ILLEGAL_DUMPING", "SNOW_REMOVAL", "LEAK"]
    codes = [*public_codes, "GRAFFITI", "ZONING", *PRIVATE_CODES]
    for code in codes:
        for prefix in ("services", "service"):
            walk.append((f"{API}/{prefix}/{code}.{{fmt}}", {}, 200))
            walk.append((f"{API}/{prefix}/{code}.{{fmt}}", {"extensions": "true"}, 200))
    for query in request_filters(s):
        walk.append((f"{API}/requests.{{fmt}}", query, 200))
    for rid in s.public_ids + s.zoning_ids:
        walk.append((f"{API}/requests/{rid}.{{fmt}}", {}, 200))
        walk.append((f"{API}/requests/{rid}.{{fmt}}", {"extensions": "true"}, 200))
    for rid in [*s.private_ids, UNKNOWN_ID]:
        walk.append((f"{API}/requests/{rid}.{{fmt}}", {}, 404))
        walk.append((f"{API}/requests/{rid}.{{fmt}}", {"extensions": "true"}, 404))
    for token in s.tokens:
        walk.append((f"{API}/tokens/{token}.{{fmt}}", {}, 200))
    return walk


def _rows(response: Any, fmt: str) -> list[dict[str, Any]]:
    if fmt in EXPORTS:
        return export_rows(response, fmt)
    body = parse(response, fmt)
    return body if isinstance(body, list) else []


def export_walk(s: Scenario) -> list[tuple[str, dict[str, str], int]]:
    """The open-data exports under every filter of GET requests (`extensions` is not read
    there); updated_before alone is refused: an export needs a bounded window."""
    walk = []
    for query in request_filters(s):
        unbounded = "updated_before" in query and "updated_after" not in query
        walk.append((f"{API}/requests.{{fmt}}", query, 400 if unbounded else 200))
    return walk


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "another-app-key"])
def test_public_answers_never_carry_personal_or_private_data(
    client: Any, app: Any, scenario: Scenario, with_key: bool
) -> None:
    # Another app's key: the key that filed the private reports follows them (its own
    # walk is tests/privacy/test_following.py); every other key sees the public record.
    other_app = make_key(app, "another-app")
    s = scenario
    problems: list[str] = []
    listed: set[str] = set()
    fed: set[str] = set()
    exported: set[str] = set()
    walks = [(fmt, public_walk(s)) for fmt in FORMATS]
    walks += [(fmt, export_walk(s)) for fmt in EXPORTS]
    for fmt, walk in walks:
        for template, query, status in walk:
            path = template.format(fmt=fmt)
            params = {**query, "api_key": other_app} if with_key else query
            response = client.get(path, query_string=params)
            where = f"GET {path} {query}"
            if response.status_code != status:
                problems.append(f"{where}: {response.status_code} (expected {status})")
            problems.extend(f"{where}: {leak}" for leak in leaks(response))
            if status != 200 or "/services" in path or "discovery" in path:
                continue
            for row in _rows(response, fmt):
                rid = row.get("service_request_id")
                if rid in s.private_ids or row.get("service_code") in PRIVATE_CODES:
                    problems.append(f"{where}: private report {rid} shown")
                if "reporter" in row or any(name in row for name in PERSONAL):
                    problems.append(f"{where}: personal field names in {sorted(row)}")
                if "servicerequestupdates" in path:
                    fed.add(rid)
                elif fmt in EXPORTS:
                    exported.add(rid)
                else:
                    listed.add(rid)
    assert not problems, "\n".join(problems[:40])
    # The walk saw the public reports and their history (so it looked where leaks would be).
    assert set(s.public_ids + s.zoning_ids) <= listed
    assert set(s.public_ids + s.zoning_ids) <= exported
    assert set(s.public_ids) <= fed


def test_a_private_report_is_indistinguishable_from_an_unknown_one(
    client: Any, app: Any, scenario: Scenario
) -> None:
    # To everyone but the key that filed it (tests/privacy/test_following.py).
    other_app = make_key(app, "another-app")
    for fmt in FORMATS:
        for query in ({}, {"extensions": "true"}, {"jurisdiction_id": "newhavenct.gov"}):
            unknown = client.get(f"{API}/requests/{UNKNOWN_ID}.{fmt}", query_string=query)
            assert unknown.status_code == 404
            for rid in scenario.private_ids:
                for params in (query, {**query, "api_key": other_app}):
                    private = client.get(f"{API}/requests/{rid}.{fmt}", query_string=params)
                    assert private.status_code == unknown.status_code
                    assert private.data == unknown.data
                    assert dict(private.headers) == dict(unknown.headers)
        # A private id in a list is dropped as an unknown one is: nothing says it exists.
        ids = f"{scenario.public_ids[0]},{scenario.private_ids[0]}"
        mixed = client.get(f"{API}/requests.{fmt}", query_string={"service_request_id": ids})
        plain = client.get(
            f"{API}/requests.{fmt}",
            query_string={"service_request_id": f"{scenario.public_ids[0]},{UNKNOWN_ID}"},
        )
        assert mixed.data == plain.data


def _keywords(response: Any, fmt: str) -> dict[str, list[str]]:
    if fmt == "json":
        pairs = [(s["service_code"], s["keywords"] or "") for s in response.get_json()]
    else:  # tests.helpers.parse reads <keywords> as a container; its text is what counts
        root = etree.fromstring(response.data)
        pairs = [(s.findtext("service_code"), s.findtext("keywords") or "") for s in root]
    return {code: text.split(", ") for code, text in pairs}


def test_private_service_codes_are_known_but_list_nothing(client: Any, scenario: Scenario) -> None:
    for fmt in FORMATS:
        keywords = _keywords(client.get(f"{API}/services.{fmt}"), fmt)
        for code in PRIVATE_CODES:
            assert "private" in keywords[code], keywords[code]
            r = client.get(f"{API}/requests.{fmt}", query_string={"service_code": code})
            assert r.status_code == 200 and _rows(r, fmt) == []


def test_the_submitter_of_a_private_report_gets_its_id(client: Any, app: Any) -> None:
    key = make_key(app, "tenant-app")
    for fmt in FORMATS:
        for code in PRIVATE_CODES:
            answer = created(client, key, code, fmt, description=PRIVATE_NEIGHBOUR, **PERSONAL)
            assert answer["service_request_id"].startswith("NHV-"), answer
            assert answer["account_id"] == PERSONAL["account_id"]  # the submitter's own


def provoked_errors(client: Any, key: str, fmt: str) -> list[tuple[str, Any, int]]:
    """Error answers to requests that carry personal values."""
    bad_email = {**PERSONAL, "email": "leak-7f3a-at-example.org"}
    out = [
        ("bad e-mail", post(client, key, "POTHOLE", fmt, **bad_email), 400),
        (
            "control character in the phone",
            post(client, key, "POTHOLE", fmt, **{**PERSONAL, "phone": PHONE + "\x01"}),
            400,
        ),
        ("missing required attribute", post(client, key, "ILLEGAL_DUMPING", fmt, **PERSONAL), 400),
        (
            "contact rule unmet",
            post(
                client,
                key,
                "ZONING",
                fmt,
                address_string="1 Elm St",
                **{k: v for k, v in PERSONAL.items() if k not in ("email", "phone")},
            ),
            400,
        ),
        ("no key", post(client, None, "POTHOLE", fmt, **PERSONAL), 403),
        ("bad key", post(client, "o311_nope", "POTHOLE", fmt, **PERSONAL), 403),
        ("unknown service", post(client, key, "NOPE", fmt, **PERSONAL), 404),
        ("lat without long", post(client, key, "POTHOLE", fmt, lat="41.3", **PERSONAL), 400),
        (
            "outside the area",
            post(client, key, "POTHOLE", fmt, lat=BOSTON[0], long=BOSTON[1], **PERSONAL),
            400,
        ),
        (
            "private description too long",
            post(client, key, PRIVATE_CODES[0], fmt, description=PRIVATE_NEIGHBOUR * 200),
            400,
        ),
        (
            "GET with personal parameters",
            client.get(f"{API}/requests.{fmt}", query_string={**PERSONAL, "api_key": key}),
            200,
        ),
        (
            "GET with personal parameters and a bad date",
            client.get(f"{API}/requests.{fmt}", query_string={**PERSONAL, "start_date": "soon"}),
            400,
        ),
        ("e-mail as an id", client.get(f"{API}/requests/{EMAIL}.{fmt}"), 404),
        ("e-mail as a token", client.get(f"{API}/tokens/{EMAIL}.{fmt}"), 404),
        (
            "updates feed with personal parameters",
            client.get(f"{API}/servicerequestupdates.{fmt}", query_string=PERSONAL),
            200,
        ),
        ("PUT", client.put(f"{API}/requests.{fmt}", data=PERSONAL), 405),
        ("unknown path", client.get(f"{API}/people/{EMAIL}.{fmt}", query_string=PERSONAL), 404),
        (
            "staff API with a submit key",
            client.get(f"{API}/staff/requests.{fmt}", query_string={**PERSONAL, "api_key": key}),
            403,
        ),
    ]
    return out


def test_error_answers_never_echo_personal_values(
    client: Any, app: Any, scenario: Scenario
) -> None:
    problems = []
    # Not the key that filed the private reports: it may read their public notes.
    key = make_key(app, "another-app")
    for fmt in FORMATS:
        for what, response, status in provoked_errors(client, key, fmt):
            if response.status_code != status:
                problems.append(f"{fmt} {what}: {response.status_code} != {status}")
            if status != 200:
                errors(response, fmt)  # an Open311 error list in the requested format
            problems.extend(f"{fmt} {what}: {leak}" for leak in leaks(response))
    assert not problems, "\n".join(problems[:40])


# --- logs --------------------------------------------------------------------------------


def _formatted(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records) + caplog.text


def test_logs_never_carry_personal_values(
    app: Any, client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="open311")
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    key = make_key(app, "resident-app")
    created(client, key, "POTHOLE", **PERSONAL, description="Hole")
    created(client, key, "ZONING", address_string="12 Elm St", **PERSONAL)
    created(client, key, PRIVATE_CODES[0], **PERSONAL, description=PRIVATE_NEIGHBOUR)
    post(client, key, "POTHOLE", **{**PERSONAL, "email": "leak-7f3a-at-example.org"})

    # A failure whose message quotes the reporter (a driver error, say) must be masked.
    from open311.api import requests as requests_api

    def failing(*_: Any, **__: Any) -> None:
        raise RuntimeError(f"could not store report from {EMAIL} ({PHONE}), phone={PHONE}")

    monkeypatch.setattr(requests_api, "accept", failing)
    for fmt in FORMATS:
        r = post(client, key, "POTHOLE", fmt, **PERSONAL)
        assert r.status_code == 500
        assert leaks(r) == []
    monkeypatch.undo()

    # A back-end that fails quoting the reporter: the worker logs it, masked too.
    from .common import AcceptingWorkOrders

    class Quoting(AcceptingWorkOrders):
        def submit(self, ticket: Any) -> Any:
            raise ValueError(f"mailbox {ticket.contact.email} full; call {ticket.contact.phone}")

    monkeypatch.setattr("tests.privacy.common.AcceptingWorkOrders", Quoting)
    deliver_all(app)

    records = caplog.records
    assert any(r.levelno >= logging.ERROR and r.name == "open311" for r in records)
    assert any("adapter" in r.getMessage() for r in records), "the worker logged the failure"
    text = _formatted(caplog).lower()
    found = [v for v in FORBIDDEN if v.lower() in text]
    assert found == [], found


def test_redaction_masks_contacts_but_not_timestamps() -> None:
    line = f"from {EMAIL} or {PHONE}, email={EMAIL}, at 2026-11-21T06:44:54Z, NHV-1234"
    masked = redact(line)
    assert EMAIL not in masked and PHONE not in masked and "leak-7f3a" not in masked
    assert "2026-11-21T06:44:54Z" in masked and "NHV-1234" in masked


@pytest.mark.parametrize(
    "phone", ["+1 203 555 0199", "(203) 555-0199", "203-555-0199", "203.555.0199", "2035550199"]
)
def test_redaction_masks_phone_numbers_in_their_usual_spellings(phone: str) -> None:
    assert phone not in redact(f"call {phone} back")


@pytest.mark.parametrize(
    "line",
    [
        "Listening at: http://127.0.0.1:8311 (26379)",
        "[2026-11-21 07:21:10 +0000] [26379] [INFO] Booting worker",
        "routed lat 41.3083 long -72.9279 to nhv-public-works",
    ],
)
def test_redaction_leaves_operational_lines_readable(line: str) -> None:
    assert redact(line) == line
