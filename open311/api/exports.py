"""GET requests.csv and requests.geojson: the public reports of GET requests' filters, as
open data, streamed (open311/exports.py lays them out, store.public_views reads them)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Blueprint, Response

from schemas.requests import RequestQuerySchema

from ..errors import APIError
from ..exports import WindowTooWide, check_window, csv_chunks, geojson_chunks
from ..store import public_views
from .caching import MAX_AGE_REPORTS
from .coverage import GEOJSON_TYPE
from .params import gateway, items, load
from .requests import listing_query

bp = Blueprint("exports", __name__)

CSV_TYPE = "text/csv; charset=utf-8; header=present"
# The public fields only, so `extensions` is not read; every other parameter is.
_SCHEMA = RequestQuerySchema(exclude=("extensions",))


@bp.get("/requests.csv")
def requests_csv() -> Response:
    return _export(csv_chunks, CSV_TYPE, "csv")


@bp.get("/requests.geojson")
def requests_geojson() -> Response:
    return _export(geojson_chunks, GEOJSON_TYPE, "geojson")


def _export(
    layout: Callable[[Iterable[dict[str, Any]]], Iterator[bytes]], media: str, suffix: str
) -> Response:
    q = listing_query(load(_SCHEMA, dict(items())), paged=False)
    try:
        check_window(q)
    except WindowTooWide as exc:
        raise APIError(400, str(exc)) from exc
    db = gateway().db

    def chunks() -> Iterator[bytes]:
        # The session lives as long as the answer is being sent; closing the answer (the
        # client went away) closes it too.
        with db.read() as session:
            yield from layout(public_views(session, q))

    stream = chunks()
    # The first chunk before the status is sent: a database that cannot be reached is
    # still a 503 in the error list, not a 200 cut short.
    first = next(stream)
    response = Response(_then(first, stream), content_type=media)
    # The same answer for every caller (no key widens an export): a shared cache may keep
    # it as briefly as a page of requests.
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_REPORTS}"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"requests-{q.jurisdiction_id}.{suffix}")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _then(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield first
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()
