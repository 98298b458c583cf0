"""Service discovery (DISC): both formats, every field, the v2 endpoint and its base URL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers import parse, root_tag

from .conftest import API, parse_w3c_utc

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"


@pytest.mark.parametrize("prefix", [API, ""], ids=["api-base", "root"])
def test_discovery_has_every_field(client: Any, fmt: str, prefix: str) -> None:
    response = client.get(f"{prefix}/discovery.{fmt}")
    assert response.status_code == 200, response.data
    body = parse(response, fmt)
    if fmt == "xml":
        assert root_tag(response) == "discovery"
    assert isinstance(body, dict), body
    assert set(body) == {"changeset", "contact", "key_service", "endpoints"}
    assert "New Haven 311 demo desk" in body["contact"]
    assert "open311 keys create" in body["key_service"]
    changeset = parse_w3c_utc(body["changeset"])
    assert changeset <= datetime.now(UTC), "the changeset must lie in the past"

    assert isinstance(body["endpoints"], list) and body["endpoints"], body
    v2 = [e for e in body["endpoints"] if e["specification"] == SPECIFICATION]
    assert len(v2) == 1, body["endpoints"]
    endpoint = v2[0]
    assert set(endpoint) == {"specification", "url", "changeset", "type", "formats"}
    # The GeoReport base, with a trailing slash, wherever discovery itself was served.
    assert endpoint["url"] == f"http://localhost{API}/"
    assert endpoint["type"] in ("production", "test")
    assert endpoint["type"] == "test"  # the demo configuration says so
    assert parse_w3c_utc(endpoint["changeset"]) == changeset
    assert isinstance(endpoint["formats"], list)
    assert endpoint["formats"] == ["text/xml", "application/json"]


def test_discovery_json_is_an_object_with_string_formats(client: Any) -> None:
    body = client.get(f"{API}/discovery.json").get_json()
    assert isinstance(body, dict)
    assert all(isinstance(f, str) for f in body["endpoints"][0]["formats"])


def test_discovery_xml_lists_formats_as_repeated_elements(client: Any) -> None:
    from lxml import etree

    root = etree.fromstring(client.get(f"{API}/discovery.xml").data)
    formats = root.findall("endpoints/endpoint/formats/format")
    assert [f.text for f in formats] == ["text/xml", "application/json"]
    assert root.findtext("endpoints/endpoint/specification") == SPECIFICATION


@pytest.mark.parametrize("join", ["append", "slash"])
def test_discovery_url_is_the_working_base(client: Any, fmt: str, join: str) -> None:
    """A client that appends `services.{fmt}` to the advertised url (FixMyStreet) and one
    that joins with a slash of its own both reach the list."""
    url = parse(client.get(f"/discovery.{fmt}"), fmt)["endpoints"][0]["url"]
    path = url.removeprefix("http://localhost")
    response = client.get(f"{path}services.{fmt}" if join == "append" else f"{path}/services.{fmt}")
    assert response.status_code == 200
    codes = [s["service_code"] for s in parse(response, fmt)]
    assert "POTHOLE" in codes


def test_discovery_both_formats_say_the_same(client: Any) -> None:
    as_json = parse(client.get(f"{API}/discovery.json"), "json")
    as_xml = parse(client.get(f"{API}/discovery.xml"), "xml")
    assert as_json == as_xml
