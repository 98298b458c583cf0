"""GET services.{fmt} and GET services/{code}.{fmt}: the list, the definitions, and the
jurisdiction and location rules that pick which services are listed."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from tests.helpers import BOSTON, HAMDEN_CENTRE, NEW_HAVEN_GREEN, errors, parse, root_tag, text

from .conftest import api

NEW_HAVEN_CODES = {
    "POTHOLE",
    "STREETLIGHT",
    "ILLEGAL_DUMPING",
    "SNOW_REMOVAL",
    "LEAK",
    "GRAFFITI",
    "ZONING",
    "NEIGHBOR_COMPLAINT",
    "LEASE_VIOLATION",
}
SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
ATTRIBUTE_FIELDS = {
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
}
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}


def services(client: Any, fmt: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(api(f"services.{fmt}"), query_string=params)
    assert response.status_code == 200, response.data
    body = parse(response, fmt)
    assert isinstance(body, list), body
    return body


def _keywords(response: Any, fmt: str) -> dict[str, str | None]:
    """keywords by service_code, read raw (the shared XML reader treats `keywords` as a
    container name, which it is only in extensions)."""
    if fmt == "json":
        return {s["service_code"]: s["keywords"] for s in response.get_json()}
    root = etree.fromstring(response.data)
    return {s.findtext("service_code"): s.findtext("keywords") for s in root.findall("service")}


# --- the list ---------------------------------------------------------------------------


def test_service_list_shape_and_values(client: Any, fmt: str) -> None:
    response = client.get(api(f"services.{fmt}"))
    assert response.status_code == 200
    if fmt == "xml":
        assert root_tag(response) == "services"
    listing = parse(response, fmt)
    assert isinstance(listing, list)
    assert {s["service_code"] for s in listing} == NEW_HAVEN_CODES
    for service in listing:
        assert set(service) == SERVICE_FIELDS, service
        assert service["service_code"] and service["service_name"] and service["description"]
        assert text(service["metadata"]) in ("true", "false")
        assert service["type"] in ("realtime", "batch", "blackbox")
    by_code = {s["service_code"]: s for s in listing}
    pothole = by_code["POTHOLE"]
    assert pothole["service_name"] == "Pothole"
    assert pothole["description"] == "A hole or a sunken patch in a city street."
    assert pothole["group"] == "Streets"
    assert text(pothole["metadata"]) == "true"
    assert text(by_code["SNOW_REMOVAL"]["metadata"]) == "false"
    assert {c: s["type"] for c, s in by_code.items() if s["type"] != "realtime"} == {
        "GRAFFITI": "blackbox",
        "ZONING": "batch",
    }
    keywords = _keywords(response, fmt)
    assert keywords["POTHOLE"] == "pothole, road, street, pavement"


def test_service_list_json_types(client: Any) -> None:
    for service in client.get(api("services.json")).get_json():
        assert isinstance(service["metadata"], bool)
        assert isinstance(service["service_code"], str)
        assert isinstance(service["keywords"], str)  # a comma-separated string, not a list


def test_service_list_metadata_matches_definitions(client: Any, fmt: str) -> None:
    """metadata=true exactly when the definition has attributes."""
    for service in services(client, fmt):
        definition = parse(client.get(api(f"services/{service['service_code']}.{fmt}")), fmt)
        assert text(service["metadata"]) == ("true" if definition["attributes"] else "false")


def test_empty_jurisdiction_is_absent(client: Any, fmt: str) -> None:
    assert services(client, fmt, jurisdiction_id="") == services(client, fmt)
    assert services(client, fmt, jurisdiction_id="newhavenct.gov") == services(client, fmt)


def test_unknown_jurisdiction_is_404(client: Any, fmt: str) -> None:
    response = client.get(api(f"services.{fmt}"), query_string={"jurisdiction_id": "nowhere.gov"})
    assert response.status_code == 404
    assert errors(response, fmt)[0]["code"] in (404, "404")


def test_other_jurisdictions_list_their_own(client: Any, fmt: str) -> None:
    hamden = services(client, fmt, jurisdiction_id="hamdenct.gov")
    assert {s["service_code"] for s in hamden} == {"POTHOLE", "BULKY_PICKUP"}
    pothole = next(s for s in hamden if s["service_code"] == "POTHOLE")
    assert pothole["description"] == "A pothole on a town road in Hamden."
    west = services(client, fmt, jurisdiction_id="westhavenct.gov")
    assert {s["service_code"] for s in west} == {"POTHOLE", "BEACH_LITTER"}


# --- extension: services reportable at a point ----------------------------------------


def test_location_outside_every_boundary_lists_nothing(client: Any, fmt: str) -> None:
    # Named, a jurisdiction answers what it takes there: nothing.
    named = {"lat": BOSTON[0], "long": BOSTON[1], "jurisdiction_id": "newhavenct.gov"}
    assert services(client, fmt, **named) == []
    response = client.get(api(f"services.{fmt}"), query_string=named)
    if fmt == "xml":
        assert root_tag(response) == "services"
        assert b"<services/>" in response.data


def test_location_outside_every_jurisdiction_without_one_named_is_a_400(
    client: Any, fmt: str
) -> None:
    # Several jurisdictions are served: the point would pick one, and it is in none.
    response = client.get(
        api(f"services.{fmt}"), query_string={"lat": BOSTON[0], "long": BOSTON[1]}
    )
    assert response.status_code == 400
    (error,) = errors(response, fmt)
    assert "outside all 3 jurisdictions" in error["description"]


def test_location_inside_lists_what_can_be_reported_there(client: Any, fmt: str) -> None:
    here = services(client, fmt, lat=NEW_HAVEN_GREEN[0], long=NEW_HAVEN_GREEN[1])
    assert {s["service_code"] for s in here} == NEW_HAVEN_CODES
    # A Hamden point is outside New Haven, when New Haven is named …
    assert (
        services(
            client,
            fmt,
            jurisdiction_id="newhavenct.gov",
            lat=HAMDEN_CENTRE[0],
            long=HAMDEN_CENTRE[1],
        )
        == []
    )
    # … and inside Hamden, named or picked by the point (no jurisdiction_id).
    for named in ({"jurisdiction_id": "hamdenct.gov"}, {}):
        hamden = services(client, fmt, lat=HAMDEN_CENTRE[0], long=HAMDEN_CENTRE[1], **named)
        assert {s["service_code"] for s in hamden} == {"POTHOLE", "BULKY_PICKUP"}


@pytest.mark.parametrize(
    "params",
    [{"lat": "41.3"}, {"long": "-72.9"}, {"lat": "91", "long": "0"}, {"lat": "x", "long": "0"}],
)
def test_bad_location_filter_is_400(client: Any, fmt: str, params: dict[str, str]) -> None:
    response = client.get(api(f"services.{fmt}"), query_string=params)
    assert response.status_code == 400
    errors(response, fmt)


# --- definitions ------------------------------------------------------------------------


def definition(client: Any, fmt: str, code: str, **params: Any) -> dict[str, Any]:
    response = client.get(api(f"services/{code}.{fmt}"), query_string=params)
    assert response.status_code == 200, response.data
    if fmt == "xml":
        assert root_tag(response) == "service_definition"
    body = parse(response, fmt)
    assert isinstance(body, dict) and set(body) == {"service_code", "attributes"}, body
    assert body["service_code"] == code
    assert isinstance(body["attributes"], list)
    return body


def test_definition_fields(client: Any, fmt: str) -> None:
    body = definition(client, fmt, "ILLEGAL_DUMPING")
    attributes = body["attributes"]
    assert [a["code"] for a in attributes] == ["WHAT", "BLOCKING", "NOTICED_AT"]
    for attribute in attributes:
        assert set(attribute) == ATTRIBUTE_FIELDS, attribute
        assert text(attribute["variable"]) == "true"
        assert attribute["description"]
    what, blocking, noticed = attributes
    assert what["datatype"] == "singlevaluelist"
    assert text(what["required"]) == "true"
    assert what["description"] == "What was dumped?"
    assert [v["key"] for v in what["values"]] == [
        "furniture",
        "tires",
        "construction",
        "hazardous",
        "other",
    ]
    assert what["values"][3] == {"key": "hazardous", "name": "Paint, oil or chemicals"}
    assert blocking["datatype"] == "multivaluelist"
    assert text(blocking["required"]) == "false"
    assert {"key": "hydrant", "name": "A fire hydrant"} in blocking["values"]
    assert noticed["datatype"] == "datetime"
    # values only on list types
    assert noticed["values"] in (None, [])
    assert [text(a["order"]) for a in attributes] == ["1", "2", "3"]


def test_definition_datatype_description(client: Any, fmt: str) -> None:
    depth = definition(client, fmt, "POTHOLE")["attributes"][0]
    assert depth["code"] == "DEPTH_CM"
    assert depth["datatype"] == "number"
    assert depth["datatype_description"] == "A number, e.g. 8"


def test_definition_json_types(client: Any) -> None:
    body = client.get(api("services/ILLEGAL_DUMPING.json")).get_json()
    for attribute in body["attributes"]:
        assert isinstance(attribute["variable"], bool)
        assert isinstance(attribute["required"], bool)
        assert isinstance(attribute["order"], int) and not isinstance(attribute["order"], bool)
        assert isinstance(attribute["code"], str)
    for value in body["attributes"][0]["values"]:
        assert isinstance(value["key"], str) and isinstance(value["name"], str)


def test_every_datatype_is_served_and_orders_are_unique_positive(client: Any, fmt: str) -> None:
    seen: set[str] = set()
    for service in services(client, fmt):
        attributes = definition(client, fmt, service["service_code"])["attributes"]
        orders = [int(text(a["order"]) or 0) for a in attributes]
        assert all(o > 0 for o in orders), (service["service_code"], orders)
        assert len(orders) == len(set(orders)), (service["service_code"], orders)
        for attribute in attributes:
            assert attribute["datatype"] in DATATYPES
            seen.add(attribute["datatype"])
            if attribute["datatype"] in ("singlevaluelist", "multivaluelist"):
                assert attribute["values"], attribute
                keys = [v["key"] for v in attribute["values"]]
                assert all(keys) and len(keys) == len(set(keys))
                assert all(v["name"] for v in attribute["values"])
    assert seen == DATATYPES


def test_known_service_without_attributes_has_an_empty_list(client: Any, fmt: str) -> None:
    response = client.get(api(f"services/SNOW_REMOVAL.{fmt}"))
    assert response.status_code == 200
    if fmt == "json":
        assert response.get_json() == {"service_code": "SNOW_REMOVAL", "attributes": []}
    else:
        root = etree.fromstring(response.data)
        assert root.tag == "service_definition"
        assert root.findtext("service_code") == "SNOW_REMOVAL"
        container = root.find("attributes")
        assert container is not None and len(container) == 0


def test_unknown_service_code_is_404_in_the_requested_format(client: Any, fmt: str) -> None:
    response = client.get(api(f"services/NO_SUCH_THING.{fmt}"))
    assert response.status_code == 404
    if fmt == "xml":
        assert root_tag(response) == "errors"
    assert errors(response, fmt)[0]["code"] in (404, "404")


def test_definition_per_jurisdiction(client: Any, fmt: str) -> None:
    # Hamden's POTHOLE has no attributes; New Haven's has two.
    assert definition(client, fmt, "POTHOLE", jurisdiction_id="hamdenct.gov")["attributes"] == []
    assert len(definition(client, fmt, "POTHOLE", jurisdiction_id="")["attributes"]) == 2
    # A code that exists only elsewhere is unknown here.
    response = client.get(api(f"services/BULKY_PICKUP.{fmt}"))
    assert response.status_code == 404
    errors(response, fmt)
    response = client.get(
        api(f"services/POTHOLE.{fmt}"), query_string={"jurisdiction_id": "nowhere.gov"}
    )
    assert response.status_code == 404
    errors(response, fmt)
