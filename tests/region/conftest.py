"""The regional demo configuration (all 169 Connecticut towns, open311/demo/) served by an
in-process app, and the towns' boundaries as the gateway ships them."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from open311 import DEMO_REGIONS

REGION = DEMO_REGIONS["connecticut"]
SHIPPED = REGION.parent / "boundaries" / "ct-towns.geojson"


def town_id(town: str) -> str:
    return town.lower().replace(" ", "-") + ".ct.example"


@cache
def shipped_towns() -> dict[str, shapely.Geometry]:
    """The 169 towns by name, from the (simplified) file the demo routes with."""
    doc = json.loads(SHIPPED.read_text(encoding="utf-8"))
    return {f["properties"]["town"]: shape(f["geometry"]) for f in doc["features"]}


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    # 338 reports from one key in a few seconds: the submit limit is not what is tested.
    return {
        "DATABASE_URL": db_url,
        "TESTING": True,
        "CONFIG": str(REGION),
        "RATELIMIT_ENABLED": False,
    }
