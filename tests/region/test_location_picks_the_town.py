"""Without a jurisdiction_id, a located request goes to the town whose boundary holds the
point: POST requests and services?lat=&long=. The rule for a point in two boundaries
(a shared border, or overlapping boundaries): the smallest boundary first, then the
order of the configuration. An explicit jurisdiction_id always wins."""

from __future__ import annotations

from typing import Any

import pytest
import shapely

from open311.routing import Router
from tests.helpers import BOSTON, HAMDEN_CENTRE, NEW_HAVEN_GREEN, WEST_HAVEN, errors, parse, text
from tests.routing.conftest import deliveries, refused, stored_reports, submit

from .conftest import shipped_towns, town_id

LONG_ISLAND_SOUND = (41.1000, -72.9000)
SHARED = {"POTHOLE", "STREETLIGHT", "ILLEGAL_DUMPING"}


def listing(client: Any, fmt: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/open311/v2/services.{fmt}", query_string=params)
    assert response.status_code == 200, response.data
    return parse(response, fmt)


def border_point(a: str, b: str) -> tuple[float, float]:
    """A vertex of the served boundaries that both towns share and no third town touches."""
    towns = shipped_towns()
    shared = {tuple(c) for c in shapely.get_coordinates(towns[a]).tolist()} & {
        tuple(c) for c in shapely.get_coordinates(towns[b]).tolist()
    }
    for long, lat in sorted(shared):
        point = shapely.Point(long, lat)
        if {t for t, g in towns.items() if g.intersects(point)} == {a, b}:
            return lat, long
    raise AssertionError(f"{a} and {b} share no vertex")


@pytest.mark.parametrize(
    ("point", "town", "own"),
    [
        (HAMDEN_CENTRE, "Hamden", {"BULKY_PICKUP"}),
        (WEST_HAVEN, "West Haven", {"BEACH_LITTER"}),
        (NEW_HAVEN_GREEN, "New Haven", {"LEASE_VIOLATION"}),
        ((41.76592, -72.69065), "Hartford", set()),
    ],
    ids=["hamden", "west-haven", "new-haven", "hartford"],
)
def test_services_at_a_point_are_the_towns_there(
    client: Any, fmt: str, point: tuple[float, float], town: str, own: set[str]
) -> None:
    lat, long = point
    plain = listing(client, fmt, lat=lat, long=long)
    assert {s["service_code"] for s in plain} == SHARED | own
    assert all("jurisdiction_id" not in s for s in plain)
    extended = listing(client, fmt, lat=lat, long=long, extensions="true")
    assert {s["service_code"] for s in extended} == SHARED | own
    assert {s["jurisdiction_id"] for s in extended} == {town_id(town)}


def test_what_is_listed_at_a_point_is_what_a_post_there_accepts(
    client: Any, fmt: str, submit_key: str
) -> None:
    for lat, long in (HAMDEN_CENTRE, WEST_HAVEN):
        listed = {s["service_code"] for s in listing(client, fmt, lat=lat, long=long)}
        for code in sorted(SHARED | {"BULKY_PICKUP", "BEACH_LITTER"}):
            response = client.post(
                f"/open311/v2/requests.{fmt}",
                data={
                    "api_key": submit_key,
                    "service_code": code,
                    "lat": lat,
                    "long": long,
                    "description": "test",
                },
            )
            assert (response.status_code == 200) == (code in listed), (code, response.data)


@pytest.mark.parametrize("point", [LONG_ISLAND_SOUND, BOSTON], ids=["long-island-sound", "boston"])
def test_a_point_in_no_town_is_refused_saying_so(
    client: Any, app: Any, submit_key: str, fmt: str, point: tuple[float, float]
) -> None:
    lat, long = point
    message = refused(client, fmt, submit_key, 400, service_code="POTHOLE", lat=lat, long=long)
    assert "outside all 169 jurisdictions this gateway serves" in message, message
    assert stored_reports(app) == 0
    response = client.get(f"/open311/v2/services.{fmt}", query_string={"lat": lat, "long": long})
    assert response.status_code == 400
    (error,) = errors(response, fmt)
    assert text(error["code"]) == "400"
    assert "outside all 169 jurisdictions" in error["description"]


def test_an_explicit_jurisdiction_id_wins(client: Any, app: Any, submit_key: str, fmt: str) -> None:
    lat, long = border_point("New Haven", "Hamden")
    # Without one, the rule picks New Haven (the smaller of the two) ...
    rid = submit(client, fmt, submit_key, service_code="POTHOLE", lat=lat, long=long)
    assert deliveries(app, rid) == [("nhv-public-works", True)]
    # ... but a client that names Hamden gets Hamden, at the same point.
    rid = submit(
        client,
        fmt,
        submit_key,
        service_code="POTHOLE",
        lat=lat,
        long=long,
        jurisdiction_id="hamden.ct.example",
    )
    assert deliveries(app, rid) == [("hamden-public-works", True)]
    assert rid.startswith("HAM-")
    listed = listing(
        client, fmt, lat=lat, long=long, jurisdiction_id="hamden.ct.example", extensions="true"
    )
    assert {s["jurisdiction_id"] for s in listed} == {"hamden.ct.example"}
    # Named, a town does not take a point well inside another town.
    message = refused(
        client,
        fmt,
        submit_key,
        400,
        service_code="POTHOLE",
        lat=NEW_HAVEN_GREEN[0],
        long=NEW_HAVEN_GREEN[1],
        jurisdiction_id="hamden.ct.example",
    )
    assert "outside the area" in message and "Town of Hamden" in message, message


@pytest.mark.parametrize(
    ("a", "b"),
    [("New Haven", "Hamden"), ("West Haven", "New Haven"), ("Hartford", "West Hartford")],
)
def test_a_point_on_a_shared_border_goes_to_the_smaller_town(
    client: Any, app: Any, fmt: str, a: str, b: str
) -> None:
    router: Router = app.extensions["open311"].router
    lat, long = border_point(a, b)
    towns = shipped_towns()
    smaller, larger = sorted((a, b), key=lambda t: towns[t].area)
    assert router.jurisdictions_at(lat, long) == [town_id(smaller), town_id(larger)]
    for _ in range(2):  # and every time
        listed = listing(client, fmt, lat=lat, long=long, extensions="true")
        assert {s["jurisdiction_id"] for s in listed} == {town_id(smaller)}
