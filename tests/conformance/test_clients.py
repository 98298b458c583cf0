"""An existing Open311 client library, unchanged, against a real `open311 serve`.

`georeport` (PyPI; requests + xmltodict) works on Python 3.11 and is read-only: service
list, definition, requests and one request, in JSON and XML. It cannot POST, so reports
are made with plain `requests` the way its README suggests. (`three`, codeforamerica's
client, installs but cannot be imported on Python 3: it imports `itertools.ifilter`.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.helpers import HAMDEN_CENTRE, NEW_HAVEN_GREEN

from .conftest import W3C_UTC, LiveServer

georeport = pytest.importorskip("georeport")

pytestmark = pytest.mark.server

FORMATS = ["json", "xml"]


def as_list(value: Any) -> list[Any]:
    """xmltodict gives one child as a dict and several as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def post(live_server: LiveServer, **fields: Any) -> dict[str, Any]:
    lat, long = NEW_HAVEN_GREEN
    data = {"api_key": live_server.key, "service_code": "POTHOLE", "lat": lat, "long": long}
    data.update(fields)
    response = requests.post(f"{live_server.base}/requests.json", data=data, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()[0]


@pytest.fixture(scope="module")
def reports(live_server: LiveServer) -> dict[str, str]:
    """Two New Haven reports and one in Hamden, made once: the live server rate-limits
    POSTs per key and per address, so the suite keeps its POSTs few."""
    return {
        "pothole": post(live_server, description="georeport pothole")["service_request_id"],
        "dumping": post(
            live_server,
            service_code="ILLEGAL_DUMPING",
            description="georeport dumping",
            **{"attribute[WHAT]": "tires"},
        )["service_request_id"],
        "hamden": post(
            live_server,
            jurisdiction_id="hamdenct.gov",
            service_code="BULKY_PICKUP",
            lat=HAMDEN_CENTRE[0],
            long=HAMDEN_CENTRE[1],
        )["service_request_id"],
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_list(live_server: LiveServer, fmt: str) -> None:
    client = georeport.GeoReport(live_server.base, output_format=fmt)
    services = as_list(client.get_service_list())
    by_code = {s["service_code"]: s for s in services}
    assert "POTHOLE" in by_code and "GRAFFITI" in by_code
    pothole = by_code["POTHOLE"]
    assert pothole["service_name"] == "Pothole"
    assert pothole["type"] == "realtime"
    assert str(pothole["metadata"]).lower() == "true"
    assert pothole["keywords"] == "pothole, road, street, pavement"
    assert by_code["ZONING"]["type"] == "batch"
    # Another jurisdiction through the client's own jurisdiction argument.
    hamden = georeport.GeoReport(live_server.base, jurisdiction="hamdenct.gov", output_format=fmt)
    assert {s["service_code"] for s in as_list(hamden.get_service_list())} == {
        "POTHOLE",
        "BULKY_PICKUP",
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_definition(live_server: LiveServer, fmt: str) -> None:
    client = georeport.GeoReport(live_server.base, output_format=fmt)
    definition = client.get_service_definition("ILLEGAL_DUMPING")
    assert definition["service_code"] == "ILLEGAL_DUMPING"
    attributes = (
        definition["attributes"]
        if fmt == "json"
        else as_list((definition["attributes"] or {}).get("attribute"))
    )
    assert [a["code"] for a in attributes] == ["WHAT", "BLOCKING", "NOTICED_AT"]
    what = attributes[0]
    values = what["values"] if fmt == "json" else as_list(what["values"]["value"])
    assert {"key": "tires", "name": "Tires"} in [dict(v) for v in values]
    assert str(what["required"]).lower() == "true"
    empty = client.get_service_definition("SNOW_REMOVAL")
    assert empty["service_code"] == "SNOW_REMOVAL"
    assert not empty["attributes"]  # [] in JSON, an empty element (None) in XML
    with pytest.raises(requests.HTTPError) as caught:
        client.get_service_definition("NO_SUCH")
    assert caught.value.response.status_code == 404


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_requests(live_server: LiveServer, fmt: str, reports: dict[str, str]) -> None:
    client = georeport.GeoReport(live_server.base, output_format=fmt)
    wanted = f"{reports['pothole']},{reports['dumping']}"
    found = as_list(client.get_service_requests(service_request_id=wanted))
    assert sorted(r["service_request_id"] for r in found) == sorted(
        [reports["pothole"], reports["dumping"]]
    )
    for request in found:
        assert request["status"] == "open"
        assert W3C_UTC.match(request["requested_datetime"])
    # Filters as the client sends them.
    start = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    dumping = as_list(
        client.get_service_requests(
            service_code="ILLEGAL_DUMPING", status="open", start_date=start, end_date=end
        )
    )
    ids = [r["service_request_id"] for r in dumping]
    assert reports["dumping"] in ids and reports["pothole"] not in ids
    assert {r["service_code"] for r in dumping} == {"ILLEGAL_DUMPING"}
    hamden = georeport.GeoReport(live_server.base, jurisdiction="hamdenct.gov", output_format=fmt)
    hamden_ids = [r["service_request_id"] for r in as_list(hamden.get_service_requests())]
    assert reports["hamden"] in hamden_ids and reports["pothole"] not in hamden_ids


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_service_request(live_server: LiveServer, fmt: str, reports: dict[str, str]) -> None:
    client = georeport.GeoReport(live_server.base, output_format=fmt)
    # JSON: the client takes element [0] of the one-element array; XML: service_requests/request.
    request = client.get_service_request(reports["dumping"])
    assert request["service_request_id"] == reports["dumping"]
    assert request["service_code"] == "ILLEGAL_DUMPING"
    assert request["description"] == "georeport dumping"
    assert request["status"] == "open"
    assert float(request["lat"]) == pytest.approx(NEW_HAVEN_GREEN[0])
    hamden = georeport.GeoReport(live_server.base, jurisdiction="hamdenct.gov", output_format=fmt)
    assert hamden.get_service_request(reports["hamden"])["service_code"] == "BULKY_PICKUP"
    with pytest.raises(requests.HTTPError) as caught:
        client.get_service_request("NHV-987654321")
    assert caught.value.response.status_code == 404


@pytest.mark.parametrize("fmt", FORMATS)
def test_endpoint_with_a_trailing_slash(live_server: LiveServer, fmt: str) -> None:
    # The discovery url ends in a slash; georeport, handed it as is, strips it itself.
    url = requests.get(f"{live_server.base}/discovery.json", timeout=10).json()["endpoints"][0]
    assert url["url"] == live_server.base + "/"
    client = georeport.GeoReport(url["url"], output_format=fmt)
    assert any(s["service_code"] == "POTHOLE" for s in as_list(client.get_service_list()))
