"""Helpers for the routing tests: submit a report and read back the delivery rows the
router queued for it, straight from the outbox table."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import shapely
import yaml
from shapely.geometry import shape
from sqlalchemy import select

from open311.catalog import ConfigError, load_catalog
from open311.models import Delivery, ServiceRequest
from open311.routing import Router
from tests.helpers import errors, parse, post_request, text

HERE = Path(__file__).parent
STATEWIDE = HERE / "statewide.yaml"
CT_TOWNS = HERE.parent / "data" / "ct-towns.geojson"


def submit(client: Any, fmt: str, key: str, **fields: Any) -> str:
    """POST a report that must be accepted; return its service_request_id."""
    response = post_request(client, fmt, key, **fields)
    assert response.status_code == 200, response.data
    body = parse(response, fmt)
    assert isinstance(body, list) and len(body) == 1, body
    rid = body[0]["service_request_id"]
    assert rid, body
    return str(rid)


def refused(client: Any, fmt: str, key: str, status: int, **fields: Any) -> str:
    """POST a report that must be refused; return the joined error descriptions."""
    response = post_request(client, fmt, key, **fields)
    assert response.status_code == status, response.data
    body = errors(response, fmt)
    assert text(body[0]["code"]) == str(status), body
    return " ".join(e["description"] for e in body)


def deliveries(app: Any, public_id: str) -> list[tuple[str, bool]]:
    """(destination, primary) of every outbox row queued for the report, in queue order."""
    with app.extensions["open311"].db.read() as session:
        rows = session.scalars(
            select(Delivery)
            .join(ServiceRequest, Delivery.request_id == ServiceRequest.id)
            .where(ServiceRequest.public_id == public_id)
            .order_by(Delivery.id)
        ).all()
        return [(d.destination, d.primary) for d in rows]


def stored_reports(app: Any) -> int:
    with app.extensions["open311"].db.read() as session:
        return len(session.scalars(select(ServiceRequest.id)).all())


@cache
def towns() -> dict[str, shapely.Geometry]:
    """The 169 Connecticut towns by name (read once; the file is about 2 MB)."""
    doc = json.loads(CT_TOWNS.read_text(encoding="utf-8"))
    return {f["properties"]["town"]: shape(f["geometry"]) for f in doc["features"]}


def towns_at(lat: float, long: float) -> set[str]:
    """Which towns hold the point, asked of shapely directly (not through the gateway)."""
    point = shapely.Point(long, lat)
    return {name for name, geom in towns().items() if geom.intersects(point)}


THREE_TOWNS = ("New Haven", "Hamden", "West Haven")


def cut_three_towns(folder: Path) -> Path:
    """A config folder with `towns.geojson`: three towns cut from the state file."""
    doc = json.loads(CT_TOWNS.read_text(encoding="utf-8"))
    doc["features"] = [f for f in doc["features"] if f["properties"]["town"] in THREE_TOWNS]
    (folder / "towns.geojson").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def write_config(
    folder: Path, base: dict[str, Any], change: Callable[[dict[str, Any]], None] | None = None
) -> Path:
    """`gateway.yaml` in the folder: a copy of `base`, changed by `change`."""
    config = copy.deepcopy(base)
    if change is not None:
        change(config)
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def refused_at_start(path: Path, *fragments: str) -> str:
    """What the gateway does with the file at start-up (and `open311 check-config`) must
    fail with a message naming the file and every fragment."""
    with pytest.raises(ConfigError) as caught:
        Router(load_catalog(path))
    message = str(caught.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message
