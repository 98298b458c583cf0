"""jurisdictions.geojson: every served jurisdiction, its boundary simplified, its number of
services; GeoJSON only, so its shape is checked here rather than in two formats."""

from __future__ import annotations

import json
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from open311 import DEMO_CONFIG
from tests.helpers import errors

from .conftest import shipped_towns, town_id

URL = "/open311/v2/jurisdictions.geojson"


def test_every_town_is_drawn_with_its_number_of_services(client: Any, app: Any) -> None:
    response = client.get(URL)
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = json.loads(response.data)
    assert body["type"] == "FeatureCollection"
    features = body["features"]
    assert len(features) == 169
    catalog = app.extensions["open311"].catalog
    assert [f["id"] for f in features] == list(catalog.jurisdictions)
    towns = shipped_towns()
    for feature in features:
        assert set(feature) == {"type", "id", "geometry", "properties"}
        assert feature["type"] == "Feature"
        props = feature["properties"]
        assert set(props) == {"jurisdiction_id", "name", "services"}
        assert props["jurisdiction_id"] == feature["id"]
        assert props["services"] == len(catalog.services_in(feature["id"]))
        geometry = shape(feature["geometry"])
        assert geometry.geom_type in ("Polygon", "MultiPolygon") and geometry.is_valid
    by_id = {f["id"]: f for f in features}
    assert by_id[town_id("Hamden")]["properties"] == {
        "jurisdiction_id": "hamden.ct.example",
        "name": "Town of Hamden",
        "services": 4,
    }
    # Simplified, but still where the town is: every town's inner point is in its drawing.
    for town, geometry in towns.items():
        drawn = shape(by_id[town_id(town)]["geometry"])
        assert drawn.contains(geometry.point_on_surface()), town
        assert abs(drawn.area - geometry.area) / geometry.area < 0.02, town
    # Simplified: far fewer vertices than the boundaries the gateway routes with.
    drawn_vertices = sum(len(shapely.get_coordinates(shape(f["geometry"]))) for f in features)
    routed_vertices = sum(len(shapely.get_coordinates(g)) for g in towns.values())
    assert drawn_vertices < 0.6 * routed_vertices, (drawn_vertices, routed_vertices)
    assert len(response.data) < 400_000
    # Neighbours keep one shared border: the drawings overlap by (almost) nothing.
    drawings = [shape(f["geometry"]) for f in features]
    overlap = shapely.union_all(drawings).area
    assert overlap == pytest.approx(sum(d.area for d in drawings), rel=1e-6)


def test_it_is_made_once_per_configuration_and_revalidates(client: Any, app: Any) -> None:
    first = client.get(URL)
    cached = app.extensions["open311"].coverage
    assert cached is not None and first.data == cached
    second = client.get(URL)
    assert app.extensions["open311"].coverage is cached
    assert second.headers["ETag"] == first.headers["ETag"]
    again = client.get(URL, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_a_wrong_method_is_the_json_error_list(client: Any) -> None:
    response = client.post(URL)
    assert response.status_code == 405
    (error,) = errors(response, "json")
    assert error["code"] == 405


@pytest.fixture
def three_towns(db_url: str) -> dict[str, Any]:
    return {"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(DEMO_CONFIG)}


def test_the_three_town_demo_is_drawn_too(three_towns: dict[str, Any]) -> None:
    from open311 import create_app

    app = create_app(three_towns)
    try:
        body = json.loads(app.test_client().get(URL).data)
    finally:
        app.extensions["open311"].db.dispose()
    counts = {f["id"]: f["properties"]["services"] for f in body["features"]}
    assert counts == {"newhavenct.gov": 9, "hamdenct.gov": 2, "westhavenct.gov": 2}
