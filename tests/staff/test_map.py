"""The queue's map of open reports: drawn by the gateway from its own boundaries (no
tiles, nothing from another host), each open located report a link at its place, closed
ones left off, the housing-authority property a report sits on among the outlines."""

from __future__ import annotations

import re
from typing import Any

import shapely

from open311.maps import MapPoint, map_view
from tests.helpers import HOUSING_PROPERTY

from .conftest import file_report, post

ON_PROPERTY = {"lat": str(HOUSING_PROPERTY[0]), "long": str(HOUSING_PROPERTY[1])}


def _map(page: str) -> str:
    found = re.search(r'<figure class="staff-map">.*?</figure>', page, re.S)
    assert found, "no map on the page"
    return found.group(0)


def test_open_reports_are_points_on_the_boundaries_the_gateway_routes_by(
    app: Any, client: Any, housing: dict[str, Any], submit_key: str
) -> None:
    first = file_report(client, submit_key, "LEASE_VIOLATION", **ON_PROPERTY)
    second = file_report(client, submit_key, "LEASE_VIOLATION", lat="41.3101", long="-72.9301")
    done = file_report(client, submit_key, "LEASE_VIOLATION", lat="41.3001", long="-72.9201")
    post(client, f"/staff/requests/{done}/status", {"status": "closed", "public_note": "Done."})

    svg = _map(client.get("/staff/queue?status=all").get_data(as_text=True))
    links = re.findall(r'<a href="([^"]+)" aria-label="([^"]+)"><circle class', svg)
    assert sorted(label for _, label in links) == sorted([first, second])
    assert all(href.endswith(f"/staff/requests/{label}") for href, label in links)
    outlines = re.findall(r'<path class="staff-map__area" d="M[^"]+"><title>([^<]+)</title>', svg)
    assert "City of New Haven" in outlines and "HA-DEMO-01" in outlines, outlines
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")

    # Each report is at its place: east-west order kept, both inside the 640-unit view.
    points = {
        label: (float(x), float(y))
        for x, y, label in re.findall(r'cx="([\d.]+)" cy="([\d.]+)" r="7"><title>([^<]+)<', svg)
    }
    assert (points[second][0] < points[first][0]) == (HOUSING_PROPERTY[1] > -72.9301)
    height = float(re.search(r'viewBox="0 0 640.0 ([\d.]+)"', svg).group(1))
    assert all(0 <= x <= 640 and 0 <= y <= height for x, y in points.values())


def test_no_open_located_report_no_map(client: Any, housing: dict[str, Any]) -> None:
    assert '<figure class="staff-map">' not in client.get("/staff/queue").get_data(as_text=True)


def test_the_view_holds_every_point_and_clips_outlines_to_it() -> None:
    square = shapely.box(-73.0, 41.0, -72.0, 42.0)
    points = [MapPoint(41.30, -72.93, "A", "/a"), MapPoint(41.31, -72.90, "B", "/b")]
    view = map_view(points, lambda bounds: [("Square", square)])
    assert view is not None and [o.name for o in view.outlines] == ["Square"]
    for p in view.points:
        assert 0 < p.x < view.width and 0 < p.y < view.height
    assert view.width == 640 and 320 <= view.height <= 960
    a, b = view.points
    assert a.x < b.x and a.y > b.y  # east is right, north is up
    xs_ys = [
        tuple(map(float, xy.split(",")))
        for xy in re.findall(r"-?[\d.]+,-?[\d.]+", view.outlines[0].d)
    ]
    # The square holds both points, so the whole square is in the view, with a margin.
    assert all(0 < x < view.width and 0 < y < view.height for x, y in xs_ys)
    # An area no point lies in is clipped to the view, not followed out of it.
    far = shapely.box(-72.5, 41.2, -60.0, 50.0)  # east of the point, far past the view
    view = map_view(points[:1], lambda bounds: [("Square", square), ("Far", far)] if bounds else [])
    assert view is not None and [o.name for o in view.outlines] == ["Square", "Far"]
    for outline in view.outlines:
        for xy in re.findall(r"-?[\d.]+,-?[\d.]+", outline.d):
            x, y = map(float, xy.split(","))
            assert 0 <= x <= view.width and 0 <= y <= view.height
    assert map_view([], lambda bounds: []) is None
