"""Synthetic reports for `open311 seed`: a database that looks lived in, for benchmarks,
load tests and trying the query extensions at scale.

The spread follows what public 311 data shows: a few services take most reports (a Zipf
curve over the configured order), reports arrive over years and mostly by day, old
reports are mostly closed and recent ones mostly open, each is placed inside the area
its service covers (else its jurisdiction's boundary), and the private services get a
share of their own. Each report is routed by the configured routes, and its deliveries
are stored as done, as they would be after years of running. Nothing personal is made up:
no reporter contact is written.

Rows go in through Core, in batches of one multi-row INSERT per table, ids returned in
order; public numbers are reserved per batch from the same counter POST uses, so the
gateway can keep taking reports while a seed runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Table, func, insert, select, text

from .catalog import Catalog, Service
from .db import Base, Database, utcnow
from .fragments import rendered
from .models import Delivery, ServiceRequest
from .routing import Destination, Router, file_geometry
from .store import private_id, reserve_numbers

BATCH = 5_000
POINTS_PER_AREA = 20_000
_STREETS = (
    "Chapel St", "Church St", "Elm St", "Orange St", "State St", "Whalley Ave", "Dixwell Ave",
    "Grand Ave", "Howard Ave", "Edgewood Ave", "Crown St", "George St", "Temple St",
    "College St", "Prospect St", "Sherman Ave", "Ferry St", "Quinnipiac Ave", "Forbes Ave",
    "Winchester Ave", "Blake St", "Fountain St", "Ella T Grasso Blvd", "Columbus Ave",
)  # fmt: skip
_SAYINGS = (
    "Reported by a passer-by.",
    "Seen on the way to work, still there this evening.",
    "Near the bus stop.",
    "Getting worse after the rain.",
    "Second time this month.",
    "By the corner, on the north side.",
    "Outside the school entrance.",
    "Blocking part of the sidewalk.",
)


@dataclass(frozen=True)
class SeedPlan:
    count: int
    years: float = 5.0
    private_share: float = 0.05  # of all reports, spread over the private services
    rng_seed: int = 311


@dataclass
class SeedResult:
    requests: int = 0
    private: int = 0
    closed: int = 0
    deliveries: int = 0
    unplaced: int = 0  # services with no area and jurisdictions with no boundary


class _Places:
    """A pool of random points inside each polygon set, drawn once (vectorised)."""

    def __init__(self, router: Router, catalog: Catalog, rng: np.random.Generator) -> None:
        self._rng = rng
        self._router = router
        self._catalog = catalog
        self._pools: dict[str, np.ndarray | None] = {}
        self._routes: dict[tuple[str, str, int], list[Destination]] = {}

    def place(
        self, service: Service, rng: random.Random
    ) -> tuple[float | None, float | None, list[Destination]]:
        """A point for a report of the service, and where the configured routes send it
        (remembered per point: routing is most of the cost of a row otherwise)."""
        pool = self.pool_for(service)
        if pool is None:
            key: tuple[str, str, int] = (service.jurisdiction, service.code, -1)
            lat = long = None
        else:
            i = rng.randrange(len(pool))
            key = (service.jurisdiction, service.code, i)
            lat, long = float(pool[i][0]), float(pool[i][1])
        destinations = self._routes.get(key)
        if destinations is None:
            destinations = self._routes[key] = self._router.route(service, lat, long, {})
        return lat, long, destinations

    def pool_for(self, service: Service) -> np.ndarray | None:
        key = f"area:{service.area}" if service.area else f"j:{service.jurisdiction}"
        if key not in self._pools:
            self._pools[key] = self._draw(self._geometry(service))
        return self._pools[key]

    def _geometry(self, service: Service) -> BaseGeometry | None:
        if service.area is not None:
            return self._router.index.geometry(service.area)
        boundary = self._catalog.jurisdictions[service.jurisdiction].boundary
        return file_geometry(boundary) if boundary is not None else None

    def _draw(self, geometry: BaseGeometry | None) -> np.ndarray | None:
        if geometry is None or geometry.is_empty:
            return None
        min_x, min_y, max_x, max_y = geometry.bounds
        found: list[np.ndarray] = []
        total = 0
        for _ in range(200):  # a thin polygon fills its box poorly; bounded all the same
            xs = self._rng.uniform(min_x, max_x, POINTS_PER_AREA)
            ys = self._rng.uniform(min_y, max_y, POINTS_PER_AREA)
            inside = shapely.contains_xy(geometry, xs, ys)
            found.append(np.column_stack([ys[inside], xs[inside]]))
            total += int(inside.sum())
            if total >= POINTS_PER_AREA:
                break
        points = np.concatenate(found)
        return points.round(6) if len(points) else None


def _weights(services: list[Service], private_share: float) -> list[float]:
    """Zipf over the configured order within public and within private services, the
    private ones together taking `private_share` (when there are any)."""
    public = [s for s in services if not s.private]
    private = [s for s in services if s.private]

    def zipf(group: list[Service], total: float) -> dict[str, float]:
        raw = [1 / (rank + 1) for rank in range(len(group))]
        return {
            f"{s.jurisdiction}/{s.code}": total * w / sum(raw)
            for s, w in zip(group, raw, strict=True)
        }

    share = private_share if private and public else (1.0 if private else 0.0)
    weights = {**zipf(public, 1 - share), **zipf(private, share)}
    return [weights[f"{s.jurisdiction}/{s.code}"] for s in services]


def seed(
    database: Database,
    catalog: Catalog,
    router: Router,
    plan: SeedPlan,
    progress: Callable[[int], None] = lambda _n: None,
) -> SeedResult:
    """Writes `plan.count` reports with their deliveries; calls `progress(n)` per batch."""
    rng = random.Random(plan.rng_seed)
    places = _Places(router, catalog, np.random.default_rng(plan.rng_seed))
    services = list(catalog.services.values())
    if not services:
        raise ValueError("The configuration has no services to report.")
    weights = _weights(services, plan.private_share)
    now = utcnow().replace(microsecond=0)
    span_s = plan.years * 365.25 * 86_400
    result = SeedResult()
    done = 0
    while done < plan.count:
        size = min(BATCH, plan.count - done)
        chosen = rng.choices(services, weights, k=size)
        with database.write() as session, session.begin():
            numbers = _reserve(session, catalog, chosen)
            rows, routes = [], []
            for service in chosen:
                row, destinations = _report(service, rng, places, catalog, now, span_s, numbers)
                rows.append(row)
                routes.append(destinations)
                result.private += service.private
                result.closed += row["status"] == "closed"
                result.unplaced += row["lat"] is None
            ids = _new_ids(session, len(rows))
            for rid, row in zip(ids, rows, strict=True):
                row["id"] = rid
            session.execute(insert(_table(ServiceRequest)), rows)
            deliveries = [
                _delivery(rid, row, agency, primary)
                for rid, row, destinations in zip(ids, rows, routes, strict=True)
                for agency, primary in destinations
            ]
            if deliveries:
                session.execute(insert(_table(Delivery)), deliveries)
            result.deliveries += len(deliveries)
        done += size
        result.requests = done
        progress(size)
    return result


def _table(model: type[Base]) -> Table:
    """The model's table as a Core Table (the mapped class types it as any FromClause)."""
    return Base.metadata.tables[model.__tablename__]


def _new_ids(session: Any, count: int) -> list[int]:
    """Row ids for a batch, taken before the INSERT (a multi-row INSERT .. RETURNING costs
    more than the insert itself in SQLAlchemy 2.0). PostgreSQL: from the column's own
    sequence, so later rows never collide; SQLite: after the largest, under the write lock
    that BEGIN IMMEDIATE holds."""
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('service_request', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return sorted(found.scalars())
    start = session.scalar(select(func.coalesce(func.max(ServiceRequest.id), 0)))
    return list(range(start + 1, start + 1 + count))


def _reserve(session: Any, catalog: Catalog, chosen: list[Service]) -> dict[str, list[int]]:
    """The batch's public numbers, per id prefix, taken from the shared counter at once."""
    wanted: dict[str, int] = {}
    for service in chosen:
        if not service.private:
            prefix = catalog.jurisdictions[service.jurisdiction].id_prefix
            wanted[prefix] = wanted.get(prefix, 0) + 1
    out: dict[str, list[int]] = {}
    for prefix, count in wanted.items():
        first = reserve_numbers(session, prefix, count)
        # Popped from the end: the oldest report of the batch gets no particular number.
        out[prefix] = list(range(first + count - 1, first - 1, -1))
    return out


def _report(
    service: Service,
    rng: random.Random,
    places: _Places,
    catalog: Catalog,
    now: datetime,
    span_s: float,
    numbers: dict[str, list[int]],
) -> tuple[dict[str, Any], list[tuple[str, bool]]]:
    # Mostly by day: a day uniformly over the span, then an hour from a daytime curve.
    day = now - timedelta(seconds=rng.uniform(0, span_s))
    hour = min(23, max(0, round(rng.gauss(13, 4))))
    requested = min(
        now,
        day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60), microsecond=0),
    )
    age_days = (now - requested).total_seconds() / 86_400
    closed = rng.random() < min(0.97, 0.15 + age_days / 45)
    if closed:
        updated = min(now, requested + timedelta(hours=rng.expovariate(1 / 120)))
    else:
        updated = min(now, requested + timedelta(hours=rng.expovariate(1 / 12)))
    lat, long, destinations = places.place(service, rng)
    primary = next(d.agency for d in destinations if d.primary)
    prefix = catalog.jurisdictions[service.jurisdiction].id_prefix
    public_id = private_id(prefix) if service.private else f"{prefix}{numbers[prefix].pop()}"
    street = rng.choice(_STREETS)
    row: dict[str, Any] = {
        "public_id": public_id,
        "token": f"{rng.getrandbits(64):016x}" if service.type == "batch" else None,
        "service_type": service.type,
        "jurisdiction_id": service.jurisdiction,
        "service_code": service.code,
        "service_name": service.name,
        "private": service.private,
        "status": "closed" if closed else "open",
        "detailed_status": "completed" if closed else rng.choice(("received", "in_progress")),
        "status_notes": "Fixed." if closed and rng.random() < 0.4 else None,
        "description": f"{service.name}. {rng.choice(_SAYINGS)}",
        "agency_responsible": catalog.agencies[primary].name,
        "service_notice": service.service_notice,
        "requested_datetime": requested,
        "updated_datetime": updated,
        "expected_datetime": None,
        "address": f"{rng.randrange(1, 1500)} {street}",
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": long,
        "media_url": None,
        "media_urls": [],
        "attributes": {},
        "api_key_id": None,
    }
    row.update(rendered(row))  # the stored public answer, as the ORM writes it
    return row, [(d.agency, d.primary) for d in destinations]


def _delivery(request_id: int, row: dict[str, Any], agency: str, primary: bool) -> dict[str, Any]:
    sent = row["requested_datetime"] + timedelta(seconds=5)
    return {
        "request_id": request_id,
        "destination": agency,
        "primary": primary,
        "idempotency_key": f"{row['public_id']}:{agency}",
        "state": "done",
        "attempts": 1,
        "next_attempt_at": sent,
        "backend_id": f"SEED-{request_id}",
        "created_at": row["requested_datetime"],
        "delivered_at": sent,
    }
