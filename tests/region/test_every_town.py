"""Against the regional demo, a report at a point inside each of the 169 towns, posted
without a jurisdiction_id, is filed in that town and delivered to that town's agency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from open311.models import Delivery, ServiceRequest
from tests.helpers import parse, post_request
from tests.routing.conftest import towns_at

from .conftest import shipped_towns, town_id

# The towns whose pothole agency the configuration overrides; all others share one.
OWN_AGENCY = {"New Haven": "nhv-public-works", "Hamden": "hamden-public-works"}


def test_each_town_gets_the_reports_made_inside_it(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    towns = shipped_towns()
    assert len(towns) == 169
    expected: dict[str, str] = {}
    for town, geometry in towns.items():
        point = geometry.point_on_surface()
        # The point is in that town by the original, unsimplified boundaries too.
        assert towns_at(point.y, point.x) == {town}, town
        answer = post_request(
            client, fmt, submit_key, service_code="POTHOLE", lat=point.y, long=point.x
        )
        assert answer.status_code == 200, (town, answer.data)
        expected[str(parse(answer, fmt)[0]["service_request_id"])] = town
    with app.extensions["open311"].db.read() as session:
        rows = session.execute(
            select(ServiceRequest.public_id, ServiceRequest.jurisdiction_id, Delivery.destination)
            .join(Delivery, Delivery.request_id == ServiceRequest.id)
            .where(Delivery.primary.is_(True))
        ).all()
    got = {rid: (jurisdiction, agency) for rid, jurisdiction, agency in rows}
    assert len(got) == 169
    wrong = {
        town: got.get(rid)
        for rid, town in expected.items()
        if got.get(rid) != (town_id(town), OWN_AGENCY.get(town, "ct-work-orders"))
    }
    assert not wrong, wrong
    # Town prefixes from the overrides show in the ids.
    by_town = {town: rid for rid, town in expected.items()}
    assert by_town["New Haven"].startswith("NHV-") and by_town["Hamden"].startswith("HAM-")
