"""Maps drawn by the gateway itself: the configured boundaries and a set of points as an
SVG the page embeds. No tiles, no script and nothing fetched from another host, so a
map works on an intranet and under the pages' strict CSP; the boundaries are the ones
routing already uses, so the map shows exactly the areas the gateway knows.

The projection is equirectangular with the longitude scaled by cos(latitude) at the
middle of the view: at a town's or a region's size its distortion is below what a
screen shows, and it needs no projection library."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

Outlines = Callable[[tuple[float, float, float, float]], list[tuple[str, BaseGeometry]]]

WIDTH = 640.0  # SVG user units; the page scales it to the screen
MARGIN = 0.08  # of the points' extent, on each side
MIN_SPAN = 0.01  # degrees: one point (or a tight cluster) still gets a street-scale view


@dataclass(frozen=True)
class MapPoint:
    lat: float
    long: float
    label: str
    href: str


@dataclass(frozen=True)
class Placed:
    x: float
    y: float
    label: str
    href: str


@dataclass(frozen=True)
class Outline:
    name: str
    d: str  # SVG path data


@dataclass(frozen=True)
class MapView:
    width: float
    height: float
    outlines: list[Outline]
    points: list[Placed]


def map_view(points: Sequence[MapPoint], outlines: Outlines) -> MapView | None:
    """The view that holds every point and the whole of each area a point lies in (so
    a single report is shown within its town, not on a blank square), with the outlines
    that cross it; None without points (a page then shows no map)."""
    if not points:
        return None
    west, south = min(p.long for p in points), min(p.lat for p in points)
    east, north = max(p.long for p in points), max(p.lat for p in points)
    located = [shapely.Point(p.long, p.lat) for p in points]
    for _, geometry in outlines((west, south, east, north)):
        if any(geometry.covers(point) for point in located):
            w, s_, e, n = geometry.bounds
            west, south, east, north = min(west, w), min(south, s_), max(east, e), max(north, n)
    scale_x = math.cos(math.radians((south + north) / 2))
    span_x = max((east - west) * scale_x, MIN_SPAN) * (1 + 2 * MARGIN)
    span_y = max(north - south, MIN_SPAN) * (1 + 2 * MARGIN)
    # A frame between twice as wide as high and half again as high as wide.
    span_y = min(max(span_y, span_x / 2), span_x * 1.5)
    span_x = max(span_x, span_y / 1.5)
    mid_lat, mid_long = (south + north) / 2, (west + east) / 2
    south, north = mid_lat - span_y / 2, mid_lat + span_y / 2
    west, east = mid_long - span_x / 2 / scale_x, mid_long + span_x / 2 / scale_x
    units = WIDTH / span_x  # SVG units per degree of latitude

    def x(long: float) -> float:
        return round((long - west) * scale_x * units, 1)

    def y(lat: float) -> float:
        return round((north - lat) * units, 1)

    box = shapely.box(west, south, east, north)
    # Simplify to about half an SVG unit: detail finer than a pixel only makes the page heavy.
    tolerance = 0.5 / units
    drawn = []
    for name, geometry in outlines((west, south, east, north)):
        clipped = shapely.simplify(shapely.intersection(geometry, box), tolerance)
        d = _path(clipped, x, y)
        if d:
            drawn.append(Outline(name, d))
    placed = [Placed(x(p.long), y(p.lat), p.label, p.href) for p in points]
    return MapView(WIDTH, round(span_y * units, 1), drawn, placed)


def _path(geometry: BaseGeometry, x: Callable[[float], float], y: Callable[[float], float]) -> str:
    rings = []
    for polygon in getattr(geometry, "geoms", [geometry]):
        if not isinstance(polygon, shapely.Polygon) or polygon.is_empty:
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            coords = [f"{x(lo)},{y(la)}" for lo, la in ring.coords]
            rings.append("M" + " L".join(coords) + " Z")
    return " ".join(rings)
