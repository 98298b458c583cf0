"""Extension: services.{fmt}?lat=&long= lists only what can be reported at that point."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import BOSTON, HAMDEN_CENTRE, HOUSING_PROPERTY, NEW_HAVEN_GREEN, parse

from .conftest import STATEWIDE

HARTFORD = (41.76592, -72.69065)
LONG_ISLAND_SOUND = (41.1000, -72.9000)


def codes(client: Any, fmt: str, **params: Any) -> set[str]:
    response = client.get(f"/open311/v2/services.{fmt}", query_string=params)
    assert response.status_code == 200, response.data
    return {s["service_code"] for s in parse(response, fmt)}


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    return {"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(STATEWIDE)}


def test_without_a_point_every_service_is_listed(client: Any, fmt: str) -> None:
    assert codes(client, fmt) == {"POTHOLE", "PARKING_METER", "BUS_STOP"}


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        (NEW_HAVEN_GREEN, {"POTHOLE", "PARKING_METER", "BUS_STOP"}),
        (HOUSING_PROPERTY, {"POTHOLE", "PARKING_METER", "BUS_STOP"}),
        (HAMDEN_CENTRE, {"POTHOLE", "BUS_STOP"}),
        (HARTFORD, {"POTHOLE", "BUS_STOP"}),
        (LONG_ISLAND_SOUND, {"BUS_STOP"}),
        (BOSTON, {"BUS_STOP"}),
    ],
    ids=["new-haven", "new-haven-property", "hamden", "hartford", "sea", "boston"],
)
def test_a_point_lists_what_can_be_reported_there(
    client: Any, fmt: str, point: tuple[float, float], expected: set[str]
) -> None:
    assert codes(client, fmt, lat=point[0], long=point[1]) == expected


def test_the_listing_agrees_with_what_posting_accepts(
    client: Any, fmt: str, submit_key: str
) -> None:
    from tests.helpers import post_request

    for lat, long in (NEW_HAVEN_GREEN, HAMDEN_CENTRE, LONG_ISLAND_SOUND):
        listed = codes(client, fmt, lat=lat, long=long)
        for code in ("POTHOLE", "PARKING_METER", "BUS_STOP"):
            status = post_request(
                client, fmt, submit_key, service_code=code, lat=lat, long=long
            ).status_code
            assert (status == 200) == (code in listed), (code, lat, long, status)
