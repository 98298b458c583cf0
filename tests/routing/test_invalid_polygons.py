"""Invalid polygons are repaired as they are loaded: a boundary exported with a fault still
routes the reports that fall inside the area it draws."""

from __future__ import annotations

import json
from pathlib import Path

from open311.catalog import Area
from open311.routing import AreaIndex

# An island written as a second ring of the mainland's polygon, as some exporters do with
# a town's islands: the ring lies outside the first one, so it is not a hole. Read as it
# is, the island is in no polygon; repaired, the polygon becomes a MultiPolygon of both.
MAINLAND = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
ISLAND = [[2.0, 2.0], [3.0, 2.0], [3.0, 3.0], [2.0, 3.0], [2.0, 2.0]]
# A ring crossing itself (a bow tie) beside it, with a key property per feature.
BOW_TIE = [[10.0, 0.0], [12.0, 2.0], [12.0, 0.0], [10.0, 2.0], [10.0, 0.0]]


def write_area(tmp_path: Path) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"name": "Harbor"},
            "geometry": {"type": "Polygon", "coordinates": [MAINLAND, ISLAND]},
        },
        {
            "type": "Feature",
            "properties": {"name": "Crossing"},
            "geometry": {"type": "Polygon", "coordinates": [BOW_TIE]},
        },
    ]
    path = tmp_path / "faulty.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_invalid_polygons_are_repaired_on_load(tmp_path: Path) -> None:
    area = Area("towns", write_area(tmp_path), "name", "Towns", "areas[0].file")
    index = AreaIndex({"towns": area})
    # lat, long: the GeoJSON order is long, lat.
    assert index.names_at(0.5, 0.5) == {"towns", "towns:Harbor"}
    assert index.names_at(2.5, 2.5) == {"towns", "towns:Harbor"}  # the island
    assert index.names_at(1.5, 1.5) == frozenset()  # the water between
    assert index.names_at(1.0, 10.2) == {"towns", "towns:Crossing"}
    assert index.names_at(1.0, 11.8) == {"towns", "towns:Crossing"}
    assert index.names_at(0.2, 11.0) == frozenset()  # outside both lobes of the bow tie
