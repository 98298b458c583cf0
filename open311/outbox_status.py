"""The state of the outbox per destination, as operators see it: `open311 outbox status`,
`/readyz` and the outbox gauges of `/metrics` all read it from here.

One grouped query over the deliveries that are not done, plus the destinations' breaker
rows; cheap enough to run at every scrape (the rows read are the backlog, not history).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, type_coerce
from sqlalchemy.orm import Session, selectinload

from schemas.datetimes import format_w3c

from .db import UTCDateTime, utcnow
from .models import OPEN_STATES, Delivery, DestinationState
from .outbox import is_due


@dataclass(frozen=True)
class DestinationStatus:
    destination: str
    depth: int  # deliveries not yet done: pending, in flight
    due: int  # of those, the ones a worker may claim now (paused or not)
    inflight: int
    dead: int  # given up on; `open311 outbox retry` queues them again
    oldest_due_age: float | None  # seconds since the oldest due delivery was queued
    paused_until: datetime | None  # aware UTC; None unless paused now
    consecutive_failures: int
    last_error: str | None
    synced_until: datetime | None  # high-water mark of the status pull


def destination_status(
    session: Session, configured: Iterable[str], now: datetime | None = None
) -> list[DestinationStatus]:
    """One entry per configured destination, and per destination that still has
    deliveries or a breaker row though it left the configuration; sorted by name."""
    now = now or utcnow()
    due = is_due(now)
    backlog = session.execute(
        select(
            Delivery.destination,
            func.count().filter(Delivery.state.in_(OPEN_STATES)),
            func.count().filter(due),
            func.count().filter(Delivery.state == "inflight"),
            func.count().filter(Delivery.state == "dead"),
            type_coerce(func.min(case((due, Delivery.created_at))), UTCDateTime),
        )
        .where(Delivery.state.in_((*OPEN_STATES, "dead")))
        .group_by(Delivery.destination)
    ).all()
    counts = {row[0]: row[1:] for row in backlog}
    breakers = {row.destination: row for row in session.scalars(select(DestinationState))}
    out = []
    for name in sorted(set(configured) | set(counts) | set(breakers)):
        depth, due_count, inflight, dead, oldest = counts.get(name, (0, 0, 0, 0, None))
        breaker = breakers.get(name)
        out.append(
            DestinationStatus(
                destination=name,
                depth=depth,
                due=due_count,
                inflight=inflight,
                dead=dead,
                oldest_due_age=(now - oldest).total_seconds() if oldest else None,
                paused_until=_still(breaker.paused_until if breaker else None, now),
                consecutive_failures=breaker.consecutive_failures if breaker else 0,
                last_error=breaker.last_error if breaker else None,
                synced_until=breaker.synced_until if breaker else None,
            )
        )
    return out


def _still(until: datetime | None, now: datetime) -> datetime | None:
    return until if until is not None and until > now else None


_COLUMNS = ("destination", "depth", "due", "oldest due", "paused until", "dead", "last error")


def status_table(states: list[DestinationStatus]) -> str:
    """The states as an aligned text table (`open311 outbox status`)."""
    rows = [_COLUMNS] + [
        (
            s.destination,
            str(s.depth),
            str(s.due),
            _age(s.oldest_due_age),
            format_w3c(s.paused_until) if s.paused_until else "-",
            str(s.dead),
            (s.last_error or "-")[:120],
        )
        for s in states
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 120:
        return f"{whole}s"
    if whole < 7200:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def newest_deliveries(session: Session, state: str | None, limit: int) -> list[Delivery]:
    """Deliveries newest first, in one state or all (`open311 outbox list`)."""
    stmt = select(Delivery).options(selectinload(Delivery.request)).order_by(Delivery.id.desc())
    if state:
        stmt = stmt.where(Delivery.state == state)
    return list(session.scalars(stmt.limit(limit)))
