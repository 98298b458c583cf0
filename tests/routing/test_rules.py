"""Each kind of route condition on its own (tests/routing/rules.yaml), through the router,
and the two-agency route once through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from open311.catalog import Catalog, load_catalog
from open311.routing import Destination, Router
from tests.helpers import BOSTON, HAMDEN_CENTRE, HOUSING_PROPERTY, NEW_HAVEN_GREEN

from .conftest import HERE, deliveries, submit

RULES = HERE / "rules.yaml"
PROPERTY_02 = (41.322, -72.931)  # inside the fictional HA-DEMO-02 only


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(RULES)


@pytest.fixture(scope="module")
def router(catalog: Catalog) -> Router:
    return Router(catalog)


def route(
    catalog: Catalog,
    router: Router,
    code: str,
    point: tuple[float, float] | None,
    jurisdiction: str = "city.example",
    **attributes: Any,
) -> list[tuple[str, bool]]:
    service = catalog.service(jurisdiction, code)
    assert service is not None, code
    lat, long = point if point is not None else (None, None)
    return [(d.agency, d.primary) for d in router.route(service, lat, long, attributes)]


def test_a_named_feature_matches_only_that_feature(catalog: Catalog, router: Router) -> None:
    assert router.areas_at(*PROPERTY_02) >= {"ha", "ha:HA-DEMO-02"}
    assert "ha:HA-DEMO-02" not in router.areas_at(*HOUSING_PROPERTY)
    # `to` with two agencies: the first is primary, the second receives it too.
    assert route(catalog, router, "POTHOLE", PROPERTY_02) == [("ha", True), ("works", False)]
    assert route(catalog, router, "POTHOLE", HOUSING_PROPERTY) == [("works", True)]


def test_multivalued_attribute_matches_when_any_value_is_wanted(
    catalog: Catalog, router: Router
) -> None:
    # copy_to repeats `works`, which is already the primary: one row each, no duplicate.
    assert route(catalog, router, "SPILL", NEW_HAVEN_GREEN, BLOCKING=["road", "drain"]) == [
        ("works", True),
        ("health", False),
    ]
    assert route(catalog, router, "SPILL", NEW_HAVEN_GREEN, BLOCKING=["road", "sidewalk"]) == [
        ("works", True)
    ]


def test_single_valued_attribute_and_route_order(catalog: Catalog, router: Router) -> None:
    assert route(catalog, router, "SPILL", NEW_HAVEN_GREEN, KIND="sewage") == [("health", True)]
    assert route(catalog, router, "SPILL", NEW_HAVEN_GREEN, KIND="oil") == [("works", True)]
    # Both the drain route and the sewage route hold; the drain route is first in the file.
    both = route(catalog, router, "SPILL", NEW_HAVEN_GREEN, KIND="sewage", BLOCKING=["drain"])
    assert both == [("works", True), ("health", False)]


def test_outside_needs_a_located_report(catalog: Catalog, router: Router) -> None:
    assert route(catalog, router, "TREE", BOSTON) == [("state-dot", True)]
    assert route(catalog, router, "TREE", NEW_HAVEN_GREEN) == [("parks", True)]
    # Without coordinates the gateway cannot say the report is outside: no match.
    assert route(catalog, router, "TREE", None) == [("parks", True)]


def test_jurisdiction_and_group_conditions(catalog: Catalog, router: Router) -> None:
    town = route(catalog, router, "POTHOLE", HAMDEN_CENTRE, jurisdiction="town.example")
    assert town == [("town-works", True), ("state-dot", False)]
    # The city's potholes are Streets too, but not in the town's jurisdiction.
    assert route(catalog, router, "POTHOLE", NEW_HAVEN_GREEN) == [("works", True)]


def test_router_returns_destinations(catalog: Catalog, router: Router) -> None:
    service = catalog.service("city.example", "POTHOLE")
    assert service is not None
    assert router.route(service, *PROPERTY_02, {}) == [
        Destination("ha", True),
        Destination("works", False),
    ]


# --- through the API ------------------------------------------------------------------------


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    return {"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(Path(RULES))}


def test_two_agency_route_queues_a_row_for_each(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    rid = submit(
        client, fmt, submit_key, service_code="POTHOLE", lat=PROPERTY_02[0], long=PROPERTY_02[1]
    )
    assert deliveries(app, rid) == [("ha", True), ("works", False)]
    rid = submit(
        client,
        fmt,
        submit_key,
        service_code="SPILL",
        **{"attribute[BLOCKING]": ["road", "drain"]},
    )
    assert deliveries(app, rid) == [("works", True), ("health", False)]
