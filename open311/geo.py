"""Distances on the Earth for the geographic filters of GET requests: the box that holds
a circle (the indexed prefilter) and the exact great-circle distance (the check after).

The exact check runs in the database, so LIMIT and OFFSET count only rows inside the
circle: on PostgreSQL as plain SQL arithmetic (no PostGIS needed), on SQLite as a
function registered on every connection (its maths functions are a compile-time option)."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Float

# The mean Earth radius (IUGG); the haversine's error against the ellipsoid is under 0.5%.
EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180
SQLITE_FUNCTION = "open311_distance_m"


def distance_m(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """The great-circle distance in metres between two WGS84 points (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def box_around(
    lat: float, long: float, radius_m: float
) -> tuple[float, float, float | None, float | None]:
    """(min_lat, max_lat, min_long, max_long) of a box holding the circle; the longitudes
    are None when the box reaches a pole or crosses the antimeridian (no longitude bound
    then, the exact check alone decides)."""
    dlat = radius_m / _M_PER_DEGREE
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90 or max_lat >= 90:
        return max(min_lat, -90.0), min(max_lat, 90.0), None, None
    # The widest point of the circle in longitude is nearer the pole than its centre.
    widest = max(abs(min_lat), abs(max_lat))
    dlong = dlat / math.cos(math.radians(widest))
    if long - dlong < -180 or long + dlong > 180:
        return min_lat, max_lat, None, None
    return min_lat, max_lat, long - dlong, long + dlong


def _sqlite_distance(
    lat1: float | None, long1: float | None, lat2: float | None, long2: float | None
) -> float | None:
    if lat1 is None or long1 is None or lat2 is None or long2 is None:
        return None
    return distance_m(lat1, long1, lat2, long2)


def register_sqlite(dbapi_connection: Any) -> None:
    dbapi_connection.create_function(SQLITE_FUNCTION, 4, _sqlite_distance, deterministic=True)


class distance_to(FunctionElement[float]):  # noqa: N801 (an SQL function, named like one)
    """SQL: the distance in metres from the point (lat, long columns) to a fixed point."""

    type = Float()
    inherit_cache = True


@compiles(distance_to, "sqlite")
def _distance_sqlite(element: distance_to, compiler: Any, **kw: Any) -> str:
    return compiler.process(getattr(func, SQLITE_FUNCTION)(*element.clauses), **kw)


@compiles(distance_to)
def _distance_sql(element: distance_to, compiler: Any, **kw: Any) -> str:
    lat1, long1, lat2, long2 = element.clauses
    expression: ColumnElement[float] = (
        2
        * EARTH_RADIUS_M
        * func.asin(
            func.least(
                1.0,
                func.sqrt(
                    func.power(func.sin(func.radians(lat2 - lat1) / 2), 2)
                    + func.cos(func.radians(lat1))
                    * func.cos(func.radians(lat2))
                    * func.power(func.sin(func.radians(long2 - long1) / 2), 2)
                ),
            )
        )
    )
    return compiler.process(expression, **kw)
