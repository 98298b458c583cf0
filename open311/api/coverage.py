"""GET jurisdictions.geojson: where this gateway takes reports, for apps to draw."""

from __future__ import annotations

from flask import Blueprint, Response, request

from ..coverage import coverage_bytes
from .params import gateway

bp = Blueprint("coverage", __name__)

GEOJSON_TYPE = "application/geo+json; charset=utf-8"


@bp.get("/jurisdictions.geojson")
def jurisdictions() -> Response:
    gw = gateway()
    # Per configuration: a reload builds a new Gateway, and with it a new cache.
    if gw.coverage is None:
        gw.coverage = coverage_bytes(gw.catalog, gw.router)
    response = Response(gw.coverage, content_type=GEOJSON_TYPE)
    response.add_etag()
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    response.make_conditional(request)  # a 304, in place, when the ETag matches
    return response
