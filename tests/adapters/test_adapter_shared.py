"""The shared pieces: HTTP classification, Retry-After, timeouts, auth, dates, paths, XML."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
import responses

from adapters.base import PermanentFailure, TemporaryFailure
from adapters.common import MISSING, get_path
from adapters.http import (
    HmacAuth,
    HttpClient,
    HttpSettingsSchema,
    Timeouts,
    join_url,
    parse_retry_after,
    safe_url,
)
from adapters.safexml import parse_xml
from adapters.settings import SettingsError, SettingsSchema, load_settings
from adapters.status import StatusMap, ValueMap
from schemas.datetimes import format_w3c, parse_datetime

URL = "https://backend.example.gov/api/orders"


def client(**settings) -> HttpClient:
    return HttpClient.from_settings(settings, adapter="test")


# --- Retry-After ------------------------------------------------------------------------


def test_retry_after_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0


def test_retry_after_http_date() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(90.0)
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5"])
def test_retry_after_unusable(value) -> None:
    assert parse_retry_after(value) is None


# --- classification of answers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, TemporaryFailure),
        (502, TemporaryFailure),
        (503, TemporaryFailure),
        (504, TemporaryFailure),
        (408, TemporaryFailure),
        (429, TemporaryFailure),
        (400, PermanentFailure),
        (401, PermanentFailure),
        (403, PermanentFailure),
        (404, PermanentFailure),
        (409, PermanentFailure),
        (422, PermanentFailure),
        (301, PermanentFailure),
    ],
)
@responses.activate
def test_status_classification(status: int, expected: type) -> None:
    responses.post(URL, status=status, body="nope", headers={"Location": "https://elsewhere"})
    with pytest.raises(expected) as info:
        client().request("POST", URL, what="submit", data=b"{}")
    assert f"HTTP {status}" in str(info.value)


@responses.activate
def test_503_and_429_carry_retry_after() -> None:
    responses.post(URL, status=503, headers={"Retry-After": "30"})
    responses.post(URL, status=429, headers={"Retry-After": "7"})
    http = client()
    with pytest.raises(TemporaryFailure) as first:
        http.request("POST", URL, what="submit")
    assert first.value.retry_after == 30.0
    with pytest.raises(TemporaryFailure) as second:
        http.request("POST", URL, what="submit")
    assert second.value.retry_after == 7.0


@responses.activate
def test_500_without_retry_after_leaves_it_to_the_gateway() -> None:
    responses.post(URL, status=500)
    with pytest.raises(TemporaryFailure) as info:
        client().request("POST", URL, what="submit")
    assert info.value.retry_after is None


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("reset"),
        requests.exceptions.ChunkedEncodingError("cut short"),
    ],
)
@responses.activate
def test_transport_errors_are_temporary(exc: Exception) -> None:
    responses.post(URL, body=exc)
    with pytest.raises(TemporaryFailure):
        client().request("POST", URL, what="submit")


def test_refused_connection_is_temporary(closed_port: int) -> None:
    with pytest.raises(TemporaryFailure, match="connection failed"):
        client().request("POST", f"http://127.0.0.1:{closed_port}/x", what="submit")


def test_slow_server_hits_the_read_timeout(backend) -> None:
    backend.on("POST", "/slow", json={"id": 1}, delay=1.0)
    http = client(timeout={"connect": 1, "read": 0.2})
    with pytest.raises(TemporaryFailure, match="timed out"):
        http.request("POST", backend.url("/slow"), what="submit")


def test_idempotency_key_and_configured_headers_are_sent(backend) -> None:
    backend.on("POST", "/orders", json={"id": 1})
    http = client(headers={"X-Tenant": "nhv"})
    http.request("POST", backend.url("/orders"), what="submit", idempotency_key="k-1", data=b"x")
    (seen,) = backend.received
    assert seen.headers["Idempotency-Key"] == "k-1"
    assert seen.headers["X-Tenant"] == "nhv"
    assert seen.headers["User-Agent"].startswith("open311-gateway")


def test_the_proxy_in_the_environment_is_used_and_read_once_per_origin(
    backend, monkeypatch
) -> None:
    """HTTP_PROXY is honoured, and read at the first request to an origin only: requests
    would read the whole environment again for every request."""
    backend.on("POST", "/orders", json={"id": 1})
    for name in ("http_proxy", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", backend.url())
    http = client()
    http.request("POST", "http://orders.example/orders", what="submit")
    monkeypatch.delenv("HTTP_PROXY")
    http.request("POST", "http://orders.example/orders", what="submit")
    assert [r.headers["Host"] for r in backend.received] == ["orders.example"] * 2
    # Another origin reads the environment as it is now: no proxy, nothing listens there.
    with pytest.raises(TemporaryFailure):
        http.request("POST", "http://orders.invalid/orders", what="submit")
    assert len(backend.received) == 2


# --- settings ---------------------------------------------------------------------------


def http_settings(**settings) -> dict:
    return load_settings("test", HttpSettingsSchema, settings)


def named(**settings) -> list[str]:
    """The key paths the settings error names."""
    with pytest.raises(SettingsError) as info:
        http_settings(**settings)
    return [line.split(": ", 1)[0] for line in info.value.lines]


def test_timeouts() -> None:
    def timeouts(**settings) -> Timeouts:
        return http_settings(**settings)["timeout"]

    assert timeouts() == (5.0, 20.0, 25.0)
    assert timeouts(timeout=3) == (3.0, 3.0, 6.0)
    assert timeouts(timeout={"read": 60}) == (5.0, 60.0, 65.0)
    assert timeouts(timeout={"read": 60, "total": 30}).total == 30.0
    assert named(timeout=0) == ["timeout"]
    assert named(timeout={"read": "long"}) == ["timeout.read"]
    assert named(timeout={"total": 0}) == ["timeout.total"]
    assert named(timeout={"read": 0}) == ["timeout.read"]


def test_the_timeout_message_is_the_configurations() -> None:
    with pytest.raises(SettingsError) as info:
        http_settings(timeout={"connect": 2, "read": -1})
    assert info.value.lines == ["timeout.read: Must be greater than 0."]


@pytest.mark.parametrize(
    ("auth", "bad_key"),
    [
        ({"type": "kerberos"}, "auth.type"),
        ({"token": "x"}, "auth.type"),
        ({"type": "bearer"}, "auth.token"),
        ({"type": "basic", "username": "u"}, "auth.password"),
        ({"type": "hmac"}, "auth.secret"),
        ({"type": "hmac", "secret": "s", "algorithm": "md5"}, "auth.algorithm"),
        ({"type": "bearer", "token": "t", "secret": "s"}, "auth.secret"),
        ("bearer abc", "auth"),
    ],
)
def test_bad_auth_names_the_key(auth, bad_key: str) -> None:
    assert bad_key in named(auth=auth)


def test_header_injection_is_refused() -> None:
    assert named(headers={"X-A": "1\r\nX-B: 2"}) == ["headers.X-A"]


def test_unknown_setting_is_named() -> None:
    assert named(fomat="xml") == ["fomat"]


def test_hmac_signs_exact_bytes() -> None:
    auth = HmacAuth("s3cret")
    body = b'{"a":1}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert auth.signature(body) == f"sha256={expected}"


def test_join_url() -> None:
    assert join_url("https://x.org/open311/v2", "requests.json") == (
        "https://x.org/open311/v2/requests.json"
    )
    assert join_url("https://x.org/open311/v2/", "/requests.json") == (
        "https://x.org/open311/v2/requests.json"
    )
    assert join_url("https://x.org/v2?tenant=a", "tokens", "t1.xml") == (
        "https://x.org/v2/tokens/t1.xml?tenant=a"
    )
    assert join_url("https://x.org", "requests.json") == "https://x.org/requests.json"


def test_safe_url_drops_credentials_and_query() -> None:
    assert safe_url("https://u:p@x.org:8443/a?api_key=k") == "https://x.org:8443/a"


# --- dates, paths, status words ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T08:30:00-04:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01 12:30:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T12:30:00.1234567Z", datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC)),
        ("Wed, 01 May 2024 12:30:00 GMT", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        (1714566600, datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        (1714566600000, datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("1714566600", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        (
            datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
            datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        ),
        ("yesterday", None),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_datetime(value, expected) -> None:
    parsed = parse_datetime(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


def test_format_w3c() -> None:
    assert format_w3c(datetime(2024, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=-4)))) == (
        "2024-05-01T12:30:00Z"
    )


def test_get_path() -> None:
    data = {"data": {"items": [{"id": 7}], "none": None}}
    assert get_path(data, "data.items.0.id") == 7
    assert get_path(data, "data.none") is None
    assert get_path(data, "data.missing") is MISSING
    assert get_path(data, "data.items.5") is MISSING
    assert get_path(data, "data.items.id") is MISSING


class _ValueMapOnly(SettingsSchema):
    value_map = ValueMap()


def test_status_map() -> None:
    def status_map_of(value_map: dict) -> StatusMap:
        return load_settings("test", _ValueMapOnly, {"value_map": value_map})["value_map"]

    status_map = status_map_of({"DONE": "closed", "Assigned": "open", 9: "closed"})
    assert status_map.map("DONE") == ("closed", True)
    assert status_map.map("done") == ("closed", True)
    assert status_map.map("9") == ("closed", True)
    assert status_map.map("Assigned") == ("open", True)
    assert status_map.map("closed") == ("closed", True)
    assert status_map.map("On hold") == ("open", False)
    with pytest.raises(SettingsError) as info:
        status_map_of({"DONE": "finished"})
    assert info.value.lines == ["value_map.DONE: Must be open or closed, not 'finished'."]


# --- XML safety -------------------------------------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<r><id>&x;</id></r>"""


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        entities.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    return f'<?xml version="1.0"?><!DOCTYPE r [{"".join(entities)}]><r>&lol9;</r>'.encode()


@pytest.mark.parametrize("payload", [XXE, billion_laughs()])
def test_doctype_answers_are_refused(payload: bytes) -> None:
    with pytest.raises(TemporaryFailure, match="DOCTYPE"):
        parse_xml(payload, "submit")


def test_doctype_hidden_from_the_byte_check_is_refused_after_parsing() -> None:
    utf16 = XXE.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
    with pytest.raises(TemporaryFailure, match="DOCTYPE"):
        parse_xml(utf16.encode("utf-16"), "submit")


def test_cdata_mentioning_doctype_is_fine() -> None:
    root = parse_xml(b"<r><![CDATA[<!DOCTYPE html>]]></r>", "status")
    assert root.text == "<!DOCTYPE html>"


@pytest.mark.parametrize("payload", [b"", b"  ", b"<r>", b"not xml", b"<a></b>"])
def test_malformed_xml_is_temporary(payload: bytes) -> None:
    with pytest.raises(TemporaryFailure):
        parse_xml(payload, "submit")
