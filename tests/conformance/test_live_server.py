"""A real `open311 serve` process (gunicorn, one worker, SQLite) driven over HTTP, as a
client on the network sees it: discovery, services, a definition, POST in both formats,
reading back, doubled slashes, bad extensions, an oversized body and a wrong method."""

from __future__ import annotations

import http.client
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from lxml import etree

from tests.helpers import NEW_HAVEN_GREEN

from .conftest import W3C_UTC, LiveServer

pytestmark = pytest.mark.server

FORMATS = ["json", "xml"]
TIMEOUT = 10


def body(response: requests.Response, fmt: str) -> Any:
    """Either format as plain data, checking the media type and (XML) the declaration."""
    media = response.headers["Content-Type"]
    if fmt == "json":
        assert media == "application/json; charset=utf-8", media
        return response.json()
    assert media == "text/xml; charset=utf-8", media
    assert response.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    return etree.fromstring(response.content)


def error_list(response: requests.Response, fmt: str, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text[:200])
    parsed = body(response, fmt)
    if fmt == "json":
        assert isinstance(parsed, list) and parsed
        assert set(parsed[0]) == {"code", "description"}
        assert parsed[0]["code"] == status
    else:
        assert parsed.tag == "errors"
        assert parsed.findtext("error/code") == str(status)
        assert parsed.findtext("error/description")


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery(live_server: LiveServer, fmt: str) -> None:
    for url in (f"{live_server.base}/discovery.{fmt}", f"{live_server.root}/discovery.{fmt}"):
        response = requests.get(url, timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        parsed = body(response, fmt)
        if fmt == "json":
            endpoint = parsed["endpoints"][0]
            assert endpoint["url"] == live_server.base + "/"
            assert endpoint["formats"] == ["text/xml", "application/json"]
            assert parsed["contact"] and parsed["key_service"]
        else:
            assert parsed.tag == "discovery"
            assert parsed.findtext("endpoints/endpoint/url") == live_server.base + "/"
            formats = [f.text for f in parsed.findall("endpoints/endpoint/formats/format")]
            assert formats == ["text/xml", "application/json"]


@pytest.mark.parametrize("path", ["services.json", "services/POTHOLE.xml", "requests.json"])
def test_one_date_header_from_the_server(live_server: LiveServer, path: str) -> None:
    """Date is written once, by gunicorn (the application sets none of its own: gunicorn
    would drop it), and is a valid HTTP date close to now."""
    url = urlsplit(f"{live_server.base}/{path}")
    connection = http.client.HTTPConnection(url.netloc, timeout=TIMEOUT)
    try:
        connection.request("GET", url.path)
        answer = connection.getresponse()
        answer.read()
    finally:
        connection.close()
    assert answer.status == 200
    dates = answer.msg.get_all("Date") or []
    assert len(dates) == 1, dates
    sent = parsedate_to_datetime(dates[0])
    assert abs((sent - datetime.now(UTC)).total_seconds()) < 60
    assert answer.msg["ETag"] and answer.msg["Cache-Control"].startswith("public")


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_and_definition(live_server: LiveServer, fmt: str) -> None:
    response = requests.get(f"{live_server.base}/services.{fmt}", timeout=TIMEOUT)
    assert response.status_code == 200
    parsed = body(response, fmt)
    if fmt == "json":
        codes = [s["service_code"] for s in parsed]
        assert all(isinstance(s["metadata"], bool) for s in parsed)
    else:
        codes = [s.findtext("service_code") for s in parsed.findall("service")]
    assert "POTHOLE" in codes and "ZONING" in codes
    response = requests.get(f"{live_server.base}/services/ILLEGAL_DUMPING.{fmt}", timeout=TIMEOUT)
    assert response.status_code == 200
    parsed = body(response, fmt)
    if fmt == "json":
        assert parsed["service_code"] == "ILLEGAL_DUMPING"
        assert [a["code"] for a in parsed["attributes"]] == ["WHAT", "BLOCKING", "NOTICED_AT"]
    else:
        assert parsed.findtext("service_code") == "ILLEGAL_DUMPING"
        codes = [a.findtext("code") for a in parsed.findall("attributes/attribute")]
        assert codes == ["WHAT", "BLOCKING", "NOTICED_AT"]
        assert parsed.findtext("attributes/attribute/values/value/key") == "furniture"


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_then_read_back(live_server: LiveServer, fmt: str) -> None:
    lat, long = NEW_HAVEN_GREEN
    description = f"Live {fmt} — Düsseldorf ñ 漢字 <b>&</b>"
    response = requests.post(
        f"{live_server.base}/requests.{fmt}",
        data={
            "api_key": live_server.key,
            "service_code": "ILLEGAL_DUMPING",
            "lat": lat,
            "long": long,
            "description": description,
            "attribute[WHAT]": "tires",
            "attribute[BLOCKING][]": ["sidewalk", "street"],
            "email": "live.reporter@example.org",
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    parsed = body(response, fmt)
    rid = (
        parsed[0]["service_request_id"]
        if fmt == "json"
        else parsed.findtext("request/service_request_id")
    )
    assert rid and rid.startswith("NHV-")

    one = requests.get(f"{live_server.base}/requests/{rid}.{fmt}", timeout=TIMEOUT)
    assert one.status_code == 200
    assert one.headers["Access-Control-Allow-Origin"] == "*"
    assert b"live.reporter@example.org" not in one.content
    parsed = body(one, fmt)
    if fmt == "json":
        assert len(parsed) == 1
        got = parsed[0]
    else:
        assert [c.tag for c in parsed] == ["request"]
        got = {c.tag: c.text for c in parsed[0]}
    assert got["service_request_id"] == rid
    assert got["status"] == "open"
    assert got["description"] == description
    assert W3C_UTC.match(got["requested_datetime"])

    listing = requests.get(
        f"{live_server.base}/requests.{fmt}",
        params={"service_request_id": rid, "status": "closed"},
        timeout=TIMEOUT,
    )
    assert listing.status_code == 200
    parsed = body(listing, fmt)
    found = (
        [r["service_request_id"] for r in parsed]
        if fmt == "json"
        else [r.findtext("service_request_id") for r in parsed.findall("request")]
    )
    assert found == [rid]


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_batch_and_token(live_server: LiveServer, fmt: str) -> None:
    response = requests.post(
        f"{live_server.base}/requests.{fmt}",
        params={"api_key": live_server.key},  # the key in the query string
        data={"service_code": "ZONING", "address_string": "1 Elm St", "email": "z@example.org"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    parsed = body(response, fmt)
    token = parsed[0]["token"] if fmt == "json" else parsed.findtext("request/token")
    assert token
    answer = requests.get(f"{live_server.base}/tokens/{token}.{fmt}", timeout=TIMEOUT)
    assert answer.status_code == 200
    parsed = body(answer, fmt)
    got = parsed[0]["token"] if fmt == "json" else parsed.findtext("request/token")
    assert got == token


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_without_key_is_403(live_server: LiveServer, fmt: str) -> None:
    response = requests.post(
        f"{live_server.base}/requests.{fmt}",
        data={"service_code": "POTHOLE", "address_string": "1 Elm St"},
        timeout=TIMEOUT,
    )
    error_list(response, fmt, 403)


@pytest.mark.parametrize("fmt", FORMATS)
def test_double_slash(live_server: LiveServer, fmt: str) -> None:
    response = requests.get(f"{live_server.base}//services.{fmt}", timeout=TIMEOUT)
    assert response.status_code == 200
    body(response, fmt)
    lat, long = NEW_HAVEN_GREEN
    response = requests.post(
        f"{live_server.base}//requests.{fmt}",
        data={"api_key": live_server.key, "service_code": "POTHOLE", "lat": lat, "long": long},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["services.csv", "services", "requests.html", "nothing"])
def test_bad_extension_is_a_json_error(live_server: LiveServer, path: str) -> None:
    response = requests.get(f"{live_server.base}/{path}", timeout=TIMEOUT)
    assert response.status_code in (400, 404)
    error_list(response, "json", response.status_code)


@pytest.mark.parametrize("fmt", FORMATS)
def test_oversized_body_is_413(live_server: LiveServer, fmt: str) -> None:
    payload = b"description=" + b"x" * (2 * 1024 * 1024)
    response = requests.post(
        f"{live_server.base}/requests.{fmt}",
        params={"api_key": live_server.key},
        data=payload,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=TIMEOUT,
    )
    error_list(response, fmt, 413)


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_method_is_405(live_server: LiveServer, fmt: str) -> None:
    response = requests.put(f"{live_server.base}/requests.{fmt}", data={"x": "1"}, timeout=TIMEOUT)
    error_list(response, fmt, 405)
    assert "POST" in response.headers["Allow"]
    response = requests.delete(f"{live_server.base}/services.{fmt}", timeout=TIMEOUT)
    error_list(response, fmt, 405)


def test_server_still_healthy_after_the_abuse(live_server: LiveServer) -> None:
    assert live_server.process.poll() is None
    response = requests.get(f"{live_server.base}/services.json", timeout=TIMEOUT)
    assert response.status_code == 200
