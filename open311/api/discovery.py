"""GET discovery.{fmt}: where the endpoint is, what it speaks, how to get a key."""

from __future__ import annotations

from flask import Blueprint, Response

from schemas.output import DiscoverySchema

from ..origin import api_root
from ..render import render
from .params import gateway

bp = Blueprint("discovery", __name__)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"


@bp.get("/discovery.<any(json, xml):fmt>")
def discovery(fmt: str) -> Response:
    catalog = gateway().catalog
    # From the configuration, never the Host header (open311/origin.py).
    base = api_root()
    # With the slash, clients that append `services.xml` (FixMyStreet's Open311.pm) and
    # clients that join with a slash of their own (georeport strips one) both land right.
    base += "/"
    changeset = catalog.gateway.changeset
    endpoint = {
        "specification": SPECIFICATION,
        "url": base,
        "changeset": changeset,
        "type": catalog.gateway.endpoint_type,
        "formats": ["text/xml", "application/json"],
    }
    body = {
        "changeset": changeset,
        "contact": catalog.gateway.contact,
        "key_service": catalog.gateway.key_service,
        "endpoints": [endpoint],
    }
    return render(DiscoverySchema().dump(body), "discovery", fmt)
