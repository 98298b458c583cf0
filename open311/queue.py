"""An agency's work queue in the gateway: finding its reports, and the actions staff take on
them (claim, assign, set status with a public and an internal note, set an expected date).

The staff API (open311/api/staff.py, for machines with a staff key) and the staff pages
(open311/staff/, for people who sign in) both call these functions, so a change made either
way reaches the public record the same way: through open311/updates.py `record_change()`.
An internal note is kept in `staff_note` and never reaches `request_update` or the report.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, distinct, func, select
from sqlalchemy.orm import Session, selectinload

from .app_updates import updates_of
from .catalog import Catalog
from .db import utcnow
from .keys import Caller
from .models import Delivery, RequestUpdate, ServiceRequest, StaffNote, still_open
from .routing import Router
from .updates import Change, record_change

SORTS = {
    "newest": (ServiceRequest.requested_datetime.desc(), ServiceRequest.id.desc()),
    "oldest": (ServiceRequest.requested_datetime.asc(), ServiceRequest.id.asc()),
    "updated": (ServiceRequest.updated_datetime.desc(), ServiceRequest.id.desc()),
}
AGES = ("lt1", "1to7", "gt7", "gt30")  # days since the report came in
# The area filter is a point-in-polygon test in Python over at most this many candidates.
AREA_SCAN = 5000


class QueueError(Exception):
    """An action the queue refuses; `status` is the HTTP status both front doors answer."""

    status = 409


class NotFound(QueueError):
    """No such report for this agency: the same answer for "none" and "not yours"."""

    status = 404


class AlreadyClaimed(QueueError):
    pass


class CopyOnly(QueueError):
    """The agency received a copy; only the primary agency sets the status."""


class ReadOnly(QueueError):
    """The agency's reports go to a system of its own; the gateway only shows them."""

    status = 403


def is_inbox(catalog: Catalog, agency: str) -> bool:
    """Whether the gateway is this agency's queue (its destination is the inbox adapter)."""
    found = catalog.agencies.get(agency)
    return found is not None and found.adapter == "inbox"


@dataclass
class QueueQuery:
    agency: str
    status: str = "open"  # open | closed | all
    service_code: str | None = None
    area: str | None = None  # an area name the router knows (e.g. "housing-authority")
    age: str | None = None  # one of AGES
    claimed: str | None = None  # "unclaimed", or an e-mail / key name
    sort: str = "newest"
    page: int = 1
    page_size: int = 50


def _status(q: QueueQuery) -> list[Any]:
    if q.status == "open":
        return [still_open()]  # written into the SQL: the open reports' own index applies
    if q.status == "closed":
        return [ServiceRequest.status == "closed"]
    return []


def _conditions(q: QueueQuery, now: datetime) -> tuple[list[Any], list[Any]]:
    """What `q` asks of a report besides its status, and of its delivery to the agency."""
    delivery: list[Any] = [Delivery.destination == q.agency]
    if q.claimed == "unclaimed":
        delivery.append(Delivery.claimed_by.is_(None))
    elif q.claimed:
        delivery.append(Delivery.claimed_by == q.claimed)
    report: list[Any] = []
    if q.service_code:
        report.append(ServiceRequest.service_code == q.service_code)
    day = timedelta(days=1)
    requested = ServiceRequest.requested_datetime
    if q.age == "lt1":
        report.append(requested > now - day)
    elif q.age == "1to7":
        report += [requested <= now - day, requested > now - 7 * day]
    elif q.age == "gt7":
        report.append(requested <= now - 7 * day)
    elif q.age == "gt30":
        report.append(requested <= now - 30 * day)
    return report, delivery


def agency_reports(q: QueueQuery, now: datetime) -> Select[Any]:
    """The agency's reports matching `q`, each once (a report may have two deliveries
    there: its own and an app's update). Read in the order asked for, each is checked for
    its delivery in ix_delivery_destination_request, so a page stops after its rows
    instead of sorting the agency's whole history."""
    report, delivery = _conditions(q, now)
    theirs = select(Delivery.id).where(Delivery.request_id == ServiceRequest.id, *delivery)
    return select(ServiceRequest).where(*_status(q), *report, theirs.exists())


def _count(session: Session, q: QueueQuery, now: datetime) -> int:
    """How many reports match `q`, read from what is smallest: the open reports for open
    ones (what is waiting, however long the history); for all of them the agency's
    deliveries in their index, and closed is all less open; a search of the history (a
    service, an age) joins the agency's deliveries to their reports."""
    report, delivery = _conditions(q, now)
    if q.status == "open":
        matching = agency_reports(q, now).subquery()
        return session.scalar(select(func.count()).select_from(matching)) or 0
    if report:
        joined = (
            select(func.count(distinct(ServiceRequest.id)))
            .select_from(ServiceRequest)
            .join(Delivery, and_(Delivery.request_id == ServiceRequest.id, *delivery))
            .where(*_status(q), *report)
        )
        return session.scalar(joined) or 0
    every = session.scalar(select(func.count(distinct(Delivery.request_id))).where(*delivery))
    if q.status == "closed":
        return (every or 0) - _count(session, replace(q, status="open"), now)
    return every or 0


def find_queue(
    session: Session, router: Router, q: QueueQuery, *, everything: bool = False
) -> tuple[list[ServiceRequest], int]:
    """One page of the agency's reports (private ones included) and how many match in all.
    `everything`: every match instead of one page (the CSV export, bounded by AREA_SCAN)."""
    now = utcnow()
    stmt = agency_reports(q, now)
    order = SORTS.get(q.sort, SORTS["newest"])
    load = (selectinload(ServiceRequest.deliveries), selectinload(ServiceRequest.contact))
    if q.area:
        # Polygons live in the router, not in SQL: test the candidates' points here.
        candidates = session.scalars(stmt.order_by(*order).options(*load).limit(AREA_SCAN))
        rows = [r for r in candidates if q.area in router.areas_at(r.lat, r.long)]
        if everything:
            return rows, len(rows)
        start = (q.page - 1) * q.page_size
        return rows[start : start + q.page_size], len(rows)
    total = _count(session, q, now)
    stmt = stmt.order_by(*order).options(*load)
    stmt = stmt.limit(AREA_SCAN) if everything else stmt.limit(q.page_size)
    if not everything:
        stmt = stmt.offset((q.page - 1) * q.page_size)
    return list(session.scalars(stmt)), total


def owned(session: Session, agency: str, public_id: str) -> tuple[ServiceRequest, Delivery]:
    """The report and this agency's delivery of it. Raises NotFound."""
    row = session.scalar(
        select(ServiceRequest)
        .where(ServiceRequest.public_id == public_id)
        .options(selectinload(ServiceRequest.contact), selectinload(ServiceRequest.deliveries))
    )
    delivery = row.delivery_to(agency) if row else None
    if row is None or delivery is None:
        raise NotFound("No report with that id for this agency.")
    return row, delivery


def claim(delivery: Delivery, who: Caller) -> None:
    """Take the report on. Raises AlreadyClaimed when someone else has it."""
    if delivery.claimed_by and delivery.claimed_by != who.name:
        raise AlreadyClaimed(f"Already claimed by {delivery.claimed_by}.")
    delivery.claimed_by, delivery.claimed_at = who.name, utcnow()


def assign(delivery: Delivery, to: str | None) -> None:
    """Give the report to a person (None: back to unclaimed). The caller checks that the
    person works for the agency."""
    delivery.claimed_by = to
    delivery.claimed_at = utcnow() if to else None


@dataclass(frozen=True)
class StatusChange:
    status: str
    public_note: str | None = None
    internal_note: str | None = None
    detailed_status: str | None = None
    expected_datetime: datetime | None = None


def set_status(
    session: Session,
    catalog: Catalog,
    who: Caller,
    row: ServiceRequest,
    delivery: Delivery,
    change: StatusChange,
) -> None:
    """Record the change on the public record (as any back-end's would be) and keep the
    internal note apart. Raises CopyOnly when the agency only received a copy."""
    if not delivery.primary:
        raise CopyOnly("This agency received a copy; the primary agency sets the status.")
    now = utcnow()
    record_change(
        session,
        row,
        Change(
            status=change.status,
            updated_datetime=now,
            detailed_status=change.detailed_status,
            status_notes=change.public_note or None,
            agency_responsible=catalog.agencies[delivery.destination].name,
            expected_datetime=change.expected_datetime,
        ),
        source=delivery.destination,
    )
    add_note(session, row, delivery.destination, who, change.internal_note)


def add_note(
    session: Session, row: ServiceRequest, agency: str, who: Caller, body: str | None
) -> None:
    if body and body.strip():
        session.add(
            StaffNote(
                request_id=row.id,
                agency=agency,
                author=who.name,
                body=body.strip(),
                created_at=utcnow(),
            )
        )


@dataclass(frozen=True)
class Event:
    """One line of a report's history as staff see it."""

    at: datetime
    kind: str  # "update" (public record) | "note" (internal) | "app" (sent by an app)
    status: str | None
    text: str | None
    by: str | None
    link: str | None = None  # a photo an app sent with its update


def history(session: Session, row: ServiceRequest, agency: str) -> list[Event]:
    """The public updates, the updates apps sent (kept whether or not they were published)
    and this agency's internal notes, oldest first."""
    events = [
        Event(u.updated_datetime, "update", u.status, u.status_notes, u.agency_responsible)
        for u in session.scalars(
            select(RequestUpdate)
            .where(RequestUpdate.request_id == row.id)
            .order_by(RequestUpdate.updated_datetime, RequestUpdate.id)
        )
    ]
    events += [
        Event(n.created_at, "note", None, n.body, n.author)
        for n in session.scalars(
            select(StaffNote)
            .where(StaffNote.request_id == row.id, StaffNote.agency == agency)
            .order_by(StaffNote.created_at, StaffNote.id)
        )
    ]
    events += [
        Event(u.created_at, "app", u.detailed_status, u.description, None, u.media_url)
        for u in updates_of(session, row)
    ]
    return sorted(events, key=lambda e: e.at)


def service_choices(router: Router, agency: str) -> list[tuple[str, str]]:
    """(code, name) of the services whose reports can reach the agency, by name: the
    service filter's choices. From the configuration: reading them off the agency's
    reports walked its whole history on every page (230 ms at 1,000,000 reports). A
    service gone from the configuration is no longer a choice; its reports are still
    listed."""
    services = router.catalog.services.values()
    found = {(s.code, s.name) for s in services if router.may_reach(s, agency)}
    return sorted(found, key=lambda choice: (choice[1], choice[0]))
