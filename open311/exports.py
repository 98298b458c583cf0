"""Open data: the public reports of a listing as CSV or GeoJSON, written as they are read.

The rows are the public views `store.public_views` yields (the same filters, visibility
and whitelist as GET requests.{fmt}, read through a server-side cursor); this module only
lays them out, in chunks of about CHUNK bytes, so an export of any size holds one batch
of rows and one chunk in memory. What an export may cover (the window rule) is here too.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from schemas.output import RequestSchema

from .db import utcnow
from .store import RequestQuery, requested_window

# The public fields, in the order of the JSON answer: the CSV header and the properties.
FIELDS = tuple(field.data_key or name for name, field in RequestSchema().dump_fields.items())
# One year (a leap year's) per export: no page cap, but a bounded answer and a bounded
# time with a cursor open. Several years are several exports.
MAX_WINDOW = timedelta(days=366)
CHUNK = 64 * 1024
# OWASP's CSV injection advice: a cell a spreadsheet would read as a formula is prefixed
# with a single quote. Tab and carriage return are on its list too.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class WindowTooWide(Exception):
    """The export's filters cover more than MAX_WINDOW; the message says what to send."""


def check_window(q: RequestQuery) -> None:
    """An export covers at most MAX_WINDOW of requested_datetime or of updated_datetime
    (a list of ids is bounded by itself). The default window is the listing's 90 days."""
    if q.service_request_ids:
        return
    days = MAX_WINDOW.days
    if q.updated_after or q.updated_before:
        if q.start is not None and q.end is not None and q.end - q.start <= MAX_WINDOW:
            return
        if q.updated_after is None:
            raise WindowTooWide(
                f"An export by updated_before needs updated_after too: at most {days} days."
            )
        if (q.updated_before or utcnow()) - q.updated_after > MAX_WINDOW:
            raise WindowTooWide(
                f"An export covers at most {days} days of updated_datetime; "
                "ask for one year at a time."
            )
        return
    start, end = requested_window(q)
    if end - start > MAX_WINDOW:
        raise WindowTooWide(
            f"An export covers at most {days} days between start_date and end_date; "
            "ask for one year at a time."
        )


def safe_cell(value: Any) -> Any:
    """A text cell that cannot run as a spreadsheet formula; numbers (the gateway's own
    lat and long, which start with - west of Greenwich) and empty cells as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _chunked(pieces: Iterable[str]) -> Iterator[bytes]:
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")


def _csv_lines(views: Iterable[dict[str, Any]]) -> Iterator[str]:
    out = io.StringIO()
    # RFC 4180: CRLF line ends, quotes only where needed, a quote doubled.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for view in views:
        writer.writerow([safe_cell(view.get(name)) for name in FIELDS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def csv_chunks(views: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """A header row of the public field names, then one row per report (UTF-8)."""
    return _chunked(_csv_lines(views))


def feature(view: dict[str, Any]) -> dict[str, Any]:
    """One report as a GeoJSON Feature: a Point [long, lat] when it was located."""
    located = view.get("lat") is not None and view.get("long") is not None
    geometry = {"type": "Point", "coordinates": [view["long"], view["lat"]]} if located else None
    return {
        "type": "Feature",
        "id": view.get("service_request_id"),
        "geometry": geometry,
        "properties": {name: view.get(name) for name in FIELDS},
    }


def _geojson_pieces(views: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield '{"type": "FeatureCollection", "features": ['
    separator = ""
    for view in views:
        yield separator + json.dumps(feature(view), ensure_ascii=False)
        separator = ",\n"
    yield "]}\n"


def geojson_chunks(views: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """A FeatureCollection (RFC 7946), one Feature per report."""
    return _chunked(_geojson_pieces(views))
