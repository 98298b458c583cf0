"""The demo configuration's routes, end to end: a report goes in through the API and the
outbox rows it leaves behind say who will receive it (and who gets only a copy)."""

from __future__ import annotations

from typing import Any

import pytest

from open311.catalog import load_catalog
from open311.routing import Destination, OutsideServiceArea, Router
from tests.helpers import BOSTON, HAMDEN_CENTRE, HOUSING_PROPERTY, NEW_HAVEN_GREEN, WEST_HAVEN

from .conftest import deliveries, refused, stored_reports, submit

HA = "nhv-housing-authority"
DPW = "nhv-public-works"
HEALTH = "nhv-health"


def at(point: tuple[float, float]) -> dict[str, float]:
    return {"lat": point[0], "long": point[1]}


# --- location: the housing authority's properties inside the city ------------------------


def test_streetlight_on_housing_property_goes_to_the_housing_authority(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = submit(client, fmt, submit_key, service_code="STREETLIGHT", **at(HOUSING_PROPERTY))
    assert deliveries(app, rid) == [(HA, True)]
    # The public record names the agency that got it.
    body = client.get(f"/open311/v2/requests/{rid}.json").get_json()
    assert body[0]["agency_responsible"] == "New Haven Housing Authority (demo)"


def test_streetlight_elsewhere_in_the_city_goes_to_public_works(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = submit(client, fmt, submit_key, service_code="STREETLIGHT", **at(NEW_HAVEN_GREEN))
    assert deliveries(app, rid) == [(DPW, True)]


def test_pothole_on_housing_property_is_not_in_the_property_route(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    # The property route names its services; potholes stay with public works everywhere.
    rid = submit(client, fmt, submit_key, service_code="POTHOLE", **at(HOUSING_PROPERTY))
    assert deliveries(app, rid) == [(DPW, True)]


# --- attributes: hazardous dumping is copied to the health department --------------------


def test_hazardous_dumping_goes_to_public_works_with_a_copy_to_health(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = submit(
        client,
        fmt,
        submit_key,
        service_code="ILLEGAL_DUMPING",
        **{"attribute[WHAT]": "hazardous"},
        **at(NEW_HAVEN_GREEN),
    )
    assert deliveries(app, rid) == [(DPW, True), (HEALTH, False)]


def test_other_dumping_goes_to_public_works_alone(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = submit(
        client,
        fmt,
        submit_key,
        service_code="ILLEGAL_DUMPING",
        **{"attribute[WHAT]": "furniture"},
        **at(NEW_HAVEN_GREEN),
    )
    assert deliveries(app, rid) == [(DPW, True)]


def test_first_matching_route_wins_over_a_later_one(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    # Hazardous dumping on a housing property matches both the property route and the
    # hazardous route; the property route comes first in the file, so it alone applies.
    rid = submit(
        client,
        fmt,
        submit_key,
        service_code="ILLEGAL_DUMPING",
        **{"attribute[WHAT]": "hazardous"},
        **at(HOUSING_PROPERTY),
    )
    assert deliveries(app, rid) == [(HA, True)]


# --- service: housing-authority matters, wherever they are --------------------------------


def test_neighbour_complaint_goes_to_the_housing_authority_anywhere_in_the_city(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    for place in (NEW_HAVEN_GREEN, HOUSING_PROPERTY):
        rid = submit(client, fmt, submit_key, service_code="NEIGHBOR_COMPLAINT", **at(place))
        assert deliveries(app, rid) == [(HA, True)]
    rid = submit(
        client,
        fmt,
        submit_key,
        service_code="NEIGHBOR_COMPLAINT",
        lat=None,
        long=None,
        address_string="200 Orange Street",
    )
    assert deliveries(app, rid) == [(HA, True)]


# --- outside the service's area ----------------------------------------------------------


def test_located_report_outside_every_town_is_refused_and_not_stored(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    before = stored_reports(app)
    message = refused(client, fmt, submit_key, 400, service_code="POTHOLE", **at(BOSTON))
    assert "outside all 3 jurisdictions this gateway serves" in message, message
    # Naming New Haven, a point in a neighbouring town is outside New Haven's area.
    message = refused(
        client,
        fmt,
        submit_key,
        400,
        service_code="POTHOLE",
        jurisdiction_id="newhavenct.gov",
        **at(WEST_HAVEN),
    )
    assert "outside the area" in message and "City of New Haven" in message, message
    assert stored_reports(app) == before


def test_a_point_in_a_neighbouring_town_goes_to_that_town_without_a_jurisdiction_id(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    # The case: a pothole in Hamden, posted without jurisdiction_id, used to be
    # refused as outside the default jurisdiction (New Haven).
    rid = submit(client, fmt, submit_key, service_code="POTHOLE", **at(HAMDEN_CENTRE))
    assert deliveries(app, rid) == [("hamden-public-works", True)]
    assert rid.startswith("HAM-")
    rid = submit(client, fmt, submit_key, service_code="BEACH_LITTER", **at(WEST_HAVEN))
    assert deliveries(app, rid) == [("westhaven-public-works", True)]


def test_address_only_report_is_accepted_because_it_cannot_be_placed(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = submit(
        client,
        fmt,
        submit_key,
        service_code="STREETLIGHT",
        lat=None,
        long=None,
        address_string="1 Boston Post Road, Boston MA",
    )
    # The property route needs a location, so an unplaced report falls to the service's agency.
    assert deliveries(app, rid) == [(DPW, True)]


def test_each_town_takes_reports_inside_its_own_boundary(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = submit(
        client,
        fmt,
        submit_key,
        service_code="POTHOLE",
        jurisdiction_id="hamdenct.gov",
        **at(HAMDEN_CENTRE),
    )
    assert deliveries(app, rid) == [("hamden-public-works", True)]
    assert rid.startswith("HAM-")
    message = refused(
        client,
        fmt,
        submit_key,
        400,
        service_code="POTHOLE",
        jurisdiction_id="hamdenct.gov",
        **at(NEW_HAVEN_GREEN),
    )
    assert "Town of Hamden" in message, message


# --- the router on its own -------------------------------------------------------------------


def test_router_answers_in_destination_order() -> None:
    from open311 import DEMO_CONFIG

    catalog = load_catalog(DEMO_CONFIG)
    router = Router(catalog)
    dumping = catalog.service("newhavenct.gov", "ILLEGAL_DUMPING")
    assert dumping is not None
    assert router.route(dumping, *NEW_HAVEN_GREEN, {"WHAT": "hazardous"}) == [
        Destination(DPW, True),
        Destination(HEALTH, False),
    ]
    assert router.route(dumping, None, None, {"WHAT": "hazardous"}) == [
        Destination(DPW, True),
        Destination(HEALTH, False),
    ]
    assert router.areas_at(*HOUSING_PROPERTY) >= {
        "jurisdiction:newhavenct.gov",
        "housing-authority",
    }
    with pytest.raises(OutsideServiceArea, match="outside the area"):
        router.route(dumping, *BOSTON, {})
