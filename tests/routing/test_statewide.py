"""State scale: one regional programme over Connecticut's 169 towns (tests/data/ct-towns.geojson),
routing each report to the town it falls in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import shapely
import yaml

from open311.catalog import load_catalog
from open311.routing import OutsideServiceArea, Router
from tests.helpers import HAMDEN_CENTRE, NEW_HAVEN_GREEN, WEST_HAVEN

from .conftest import CT_TOWNS, STATEWIDE, deliveries, refused, stored_reports, submit, towns
from .conftest import towns_at as shapely_towns_at

# Each town's representative point, rounded to 5 decimals (about a metre); the test below
# re-checks with shapely that every one still lies in its own town and no other.
PLACES: dict[str, tuple[tuple[float, float], str]] = {
    "New Haven": (NEW_HAVEN_GREEN, "new-haven-public-works"),
    "Hamden": (HAMDEN_CENTRE, "hamden-public-works"),
    "West Haven": (WEST_HAVEN, "west-haven-public-works"),
    "Hartford": ((41.76592, -72.69065), "hartford-public-works"),
    "Stamford": ((41.09914, -73.55588), "stamford-public-works"),
    "Norwich": ((41.54939, -72.08954), "norwich-public-works"),
    # No route of its own: the service's agency takes it.
    "Bridgeport": ((41.18548, -73.18699), "regional-roads"),
}
LONG_ISLAND_SOUND = (41.1000, -72.9000)
SPRINGFIELD_MA = (42.1015, -72.5898)


def border_point(a: str, b: str) -> tuple[float, float]:
    """A vertex that both towns' boundaries share, and no third town touches."""
    shared = {tuple(c) for c in shapely.get_coordinates(towns()[a]).tolist()} & {
        tuple(c) for c in shapely.get_coordinates(towns()[b]).tolist()
    }
    for long, lat in sorted(shared):
        if shapely_towns_at(lat, long) == {a, b}:
            return lat, long
    raise AssertionError(f"{a} and {b} share no vertex")


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    return {"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(STATEWIDE)}


def test_known_points_are_where_the_table_says() -> None:
    for town, (point, _) in PLACES.items():
        assert shapely_towns_at(*point) == {town}, town
    assert shapely_towns_at(*LONG_ISLAND_SOUND) == set()
    assert shapely_towns_at(*SPRINGFIELD_MA) == set()


@pytest.mark.parametrize("town", sorted(PLACES))
def test_a_point_goes_to_its_town(
    client: Any, app: Any, submit_key: str, fmt: str, town: str
) -> None:
    (lat, long), agency = PLACES[town]
    rid = submit(client, fmt, submit_key, service_code="POTHOLE", lat=lat, long=long)
    assert deliveries(app, rid) == [(agency, True)]
    assert rid.startswith("CT-")


@pytest.mark.parametrize(
    "point", [LONG_ISLAND_SOUND, SPRINGFIELD_MA], ids=["long-island-sound", "massachusetts"]
)
def test_a_point_outside_every_town_is_refused(
    client: Any, app: Any, submit_key: str, fmt: str, point: tuple[float, float]
) -> None:
    message = refused(
        client, fmt, submit_key, 400, service_code="POTHOLE", lat=point[0], long=point[1]
    )
    assert "outside the area" in message and "Connecticut towns" in message, message
    assert stored_reports(app) == 0
    # A service that may be reported anywhere is accepted at the same point.
    rid = submit(client, fmt, submit_key, service_code="BUS_STOP", lat=point[0], long=point[1])
    assert deliveries(app, rid) == [("regional-transit", True)]


def test_a_point_on_a_town_border_is_routed_by_file_order(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    lat, long = border_point("New Haven", "Hamden")
    assert app.extensions["open311"].router.areas_at(lat, long) >= {
        "towns:New Haven",
        "towns:Hamden",
    }
    # Hamden's route comes first in statewide.yaml, so Hamden gets it, every time.
    for _ in range(3):
        rid = submit(client, fmt, submit_key, service_code="POTHOLE", lat=lat, long=long)
        assert deliveries(app, rid) == [("hamden-public-works", True)]


def test_a_service_limited_to_one_town(client: Any, app: Any, submit_key: str, fmt: str) -> None:
    lat, long = NEW_HAVEN_GREEN
    rid = submit(client, fmt, submit_key, service_code="PARKING_METER", lat=lat, long=long)
    assert deliveries(app, rid) == [("new-haven-public-works", True)]
    lat, long = HAMDEN_CENTRE
    message = refused(
        client, fmt, submit_key, 400, service_code="PARKING_METER", lat=lat, long=long
    )
    assert "outside the area" in message and "New Haven" in message, message


# --- every town, through the router ---------------------------------------------------------


def slug(town: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", town.lower()).strip("-")


def write_every_town_config(folder: Path, names: list[str]) -> Path:
    """One agency and one route per town, generated rather than written out 169 times."""
    config = {
        "gateway": {"contact": "Statewide test", "key_service": "Ask", "endpoint_type": "test"},
        "jurisdictions": [{"id": "ct.example", "name": "Connecticut (test)"}],
        "areas": [
            {"id": "towns", "name": "Connecticut towns", "file": str(CT_TOWNS), "key": "town"}
        ],
        "agencies": [{"id": "fallback", "name": "Fallback", "adapter": "inbox"}]
        + [{"id": slug(n), "name": f"{n} Public Works", "adapter": "inbox"} for n in names],
        "services": [
            {
                "code": "POTHOLE",
                "name": "Pothole",
                "description": "A pothole.",
                "agency": "fallback",
                "area": "towns",
            }
        ],
        "routes": [{"name": n, "when": {"within": f"towns:{n}"}, "to": slug(n)} for n in names],
    }
    path = folder / "every-town.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def test_every_town_routes_to_its_own_agency(tmp_path: Path) -> None:
    geometries = towns()
    names = sorted(geometries)
    assert len(names) == 169
    assert len({slug(n) for n in names}) == 169
    catalog = load_catalog(write_every_town_config(tmp_path, names))
    assert len(catalog.routes) == 169
    router = Router(catalog)
    service = catalog.service("ct.example", "POTHOLE")
    assert service is not None
    wrong = {}
    for name in names:
        point = geometries[name].representative_point()
        got = router.route(service, point.y, point.x, {})
        if [(d.agency, d.primary) for d in got] != [(slug(name), True)]:
            wrong[name] = got
    assert not wrong, wrong
    with pytest.raises(OutsideServiceArea):
        router.route(service, *LONG_ISLAND_SOUND, {})
