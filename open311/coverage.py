"""Where the gateway takes reports: every served jurisdiction with its boundary, simplified
for drawing, and how many services it offers, as one GeoJSON FeatureCollection.

Built from the router's own prepared boundaries (the ones that decide where a report goes),
once per configuration: the answer changes only when the configuration does.
"""

from __future__ import annotations

import json
from typing import Any

import shapely

from schemas.output import CoverageSchema

from .catalog import Catalog
from .routing import Router

# About 50 m at Connecticut's latitude: invisible at the zoom a whole region is drawn at,
# and it shrinks the 169 towns' answer to a fraction of the boundary files.
TOLERANCE = 0.0005
# Five decimals are about a metre: more digits only cost bytes.
GRID = 1e-5


def coverage_bytes(catalog: Catalog, router: Router) -> bytes:
    """The answer's body: compact JSON (spaces would be a fifth of it)."""
    return json.dumps(coverage(catalog, router), separators=(",", ":")).encode()


def coverage(catalog: Catalog, router: Router) -> dict[str, Any]:
    """The FeatureCollection, jurisdictions in configuration order; a jurisdiction without
    a boundary has a null geometry (it takes reports wherever it is named)."""
    outlines = {j: router.index.geometry(f"jurisdiction:{j}") for j in catalog.jurisdictions}
    found = [(j, g) for j, g in outlines.items() if g is not None]
    bounded, shapes = [j for j, _ in found], [g for _, g in found]
    # Neighbours simplified together keep one shared border (no slivers, no gaps) when the
    # boundaries tile; otherwise each is simplified on its own.
    if shapes and shapely.coverage_is_valid(shapes):
        simple = list(shapely.coverage_simplify(shapes, TOLERANCE))
    else:
        simple = [shapely.simplify(s, TOLERANCE, preserve_topology=True) for s in shapes]
    geometry = {
        j: json.loads(shapely.to_geojson(shapely.set_precision(g, GRID)))
        for j, g in zip(bounded, simple, strict=True)
    }
    counts: dict[str, int] = {}
    for jurisdiction, _ in catalog.services:
        counts[jurisdiction] = counts.get(jurisdiction, 0) + 1
    features = [
        {
            "id": j.id,
            "geometry": geometry.get(j.id),
            "properties": {"id": j.id, "name": j.name, "services": counts.get(j.id, 0)},
        }
        for j in catalog.jurisdictions.values()
    ]
    return CoverageSchema().dump({"features": features})
