"""The gateway's query extensions of GET requests.{fmt}: lat/long/radius, bbox,
agency_responsible and sort, and the 400s for what they refuse."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from open311.geo import distance_m
from tests.helpers import errors

from .conftest import api, edit_request, new_id
from .test_query import ids, now

CENTRE = (41.3083, -72.9279)  # the New Haven Green
# Metres north of the centre, as degrees of latitude (1 degree is about 111.2 km).
NORTH_M = 1 / 111_195


def _placed(app: Any, client: Any, fmt: str, key: str, metres_north: float, **more: Any) -> str:
    rid = new_id(client, fmt, key)
    edit_request(app, rid, lat=CENTRE[0] + metres_north * NORTH_M, long=CENTRE[1], **more)
    return rid


def test_radius_keeps_the_reports_inside_the_circle(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    t = now()
    near = _placed(app, client, fmt, submit_key, 90, requested_datetime=t - timedelta(hours=1))
    edge = _placed(app, client, fmt, submit_key, 480, requested_datetime=t - timedelta(hours=2))
    far = _placed(app, client, fmt, submit_key, 2500, requested_datetime=t - timedelta(hours=3))
    centre = {"lat": CENTRE[0], "long": CENTRE[1]}
    assert ids(client, fmt, **centre, radius=100) == [near]
    # The default radius is 500 m.
    assert ids(client, fmt, **centre) == [near, edge]
    assert ids(client, fmt, **centre, radius=3000) == [near, edge, far]
    # Paging counts only rows inside the circle.
    assert ids(client, fmt, **centre, radius=600, page_size=1, page=2) == [edge]
    # The box around the circle holds its corners; the exact distance leaves them out.
    corner_lat = CENTRE[0] + 400 * NORTH_M
    corner_long = CENTRE[1] + 400 * NORTH_M / 0.7508  # cos(41.3 degrees)
    assert distance_m(CENTRE[0], CENTRE[1], corner_lat, corner_long) > 500
    cornered = new_id(client, fmt, submit_key)
    edit_request(app, cornered, lat=corner_lat, long=corner_long)
    assert cornered not in ids(client, fmt, **centre, radius=500)
    assert cornered in ids(client, fmt, **centre, radius=600)


def test_bbox_is_min_long_min_lat_max_long_max_lat(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    inside = _placed(app, client, fmt, submit_key, 100)
    outside = _placed(app, client, fmt, submit_key, 5000)
    lat, long = CENTRE
    box = f"{long - 0.01},{lat - 0.01},{long + 0.01},{lat + 0.01}"
    assert ids(client, fmt, bbox=box) == [inside]
    wide = f"{long - 0.1},{lat - 0.1},{long + 0.1},{lat + 0.1}"
    assert sorted(ids(client, fmt, bbox=wide)) == sorted([inside, outside])
    # Reports without a location are on no map.
    unplaced = new_id(client, fmt, submit_key, lat=None, long=None, address_string="1 Elm St")
    assert unplaced not in ids(client, fmt, bbox=wide)


def test_agency_responsible_by_name_or_id(client: Any, app: Any, submit_key: str, fmt: str) -> None:
    pothole = new_id(client, fmt, submit_key)
    other = new_id(client, fmt, submit_key)
    edit_request(app, other, agency_responsible="New Haven Housing Authority (demo)")
    public_works = "New Haven Department of Public Works"
    assert ids(client, fmt, agency_responsible=public_works) == [pothole]
    assert ids(client, fmt, agency_responsible="nhv-public-works") == [pothole]
    assert ids(client, fmt, agency_responsible="nhv-housing-authority") == [other]
    assert ids(client, fmt, agency_responsible="No such agency") == []


def test_sort_by_requested_or_updated_time(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    t = now()
    a, b, c = (new_id(client, fmt, submit_key) for _ in range(3))
    edit_request(app, a, requested_datetime=t - timedelta(days=3), updated_datetime=t)
    edit_request(
        app, b, requested_datetime=t - timedelta(days=2), updated_datetime=t - timedelta(days=2)
    )
    edit_request(
        app, c, requested_datetime=t - timedelta(days=1), updated_datetime=t - timedelta(hours=1)
    )
    assert ids(client, fmt) == [c, b, a]
    assert ids(client, fmt, sort="-requested_datetime") == [c, b, a]
    assert ids(client, fmt, sort="requested_datetime") == [a, b, c]
    assert ids(client, fmt, sort="-updated_datetime") == [a, c, b]
    assert ids(client, fmt, sort="updated_datetime") == [b, c, a]
    assert ids(client, fmt, sort="updated_datetime", page_size=1, page=2) == [c]


@pytest.mark.parametrize(
    "query, names",
    [
        ({"lat": "41.3"}, "long"),
        ({"long": "-72.9"}, "lat"),
        ({"radius": "100"}, "radius"),
        ({"lat": "41.3", "long": "-72.9", "radius": "5001"}, "radius"),
        ({"lat": "41.3", "long": "-72.9", "radius": "0"}, "radius"),
        ({"lat": "91", "long": "-72.9"}, "lat"),
        ({"lat": "41.3", "long": "-72.9", "radius": "nan"}, "radius"),
        ({"bbox": "-73,41,-72.9"}, "bbox"),
        ({"bbox": "-73,41,-72.9,x"}, "bbox"),
        ({"bbox": "-72.9,41,-73,41.1"}, "bbox"),
        ({"bbox": "-73,41,-72,41.1"}, "bbox"),
        ({"bbox": "-200,41,-72.9,41.1"}, "bbox"),
        ({"bbox": "-73,41,-72.9,41.1", "lat": "41.3", "long": "-72.9"}, "bbox"),
        ({"sort": "newest"}, "sort"),
        ({"agency_responsible": "x" * 201}, "agency_responsible"),
    ],
)
def test_bad_extension_parameters_are_400(
    client: Any, fmt: str, query: dict[str, str], names: str
) -> None:
    response = client.get(api(f"requests.{fmt}"), query_string=query)
    assert response.status_code == 400, response.data
    assert names in errors(response, fmt)[0]["description"]
