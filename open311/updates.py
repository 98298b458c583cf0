"""Applying status changes from agencies to the public record, once each.

Changes arrive three ways (a sync pull, a webhook push, a staff member in the inbox) and
all land here, so the rules live in one place: an update is recorded once (its dedup key),
only the primary destination speaks for the report's public status, and an older change
never overwrites a newer one. A change of the public status is also where the reporter's
updates are queued (open311/notifications.py), in the same transaction. Whatever a back-end
sends, the public record stays bounded: notes are cut (MAX_NOTES), and a change dated in
the future is recorded at its arrival (CLOCK_SKEW).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from adapters.base import Update

from .db import insert_ignoring_conflicts, utcnow
from .models import Delivery, RequestUpdate, ServiceRequest
from .notifications import queue_for_change

log = logging.getLogger("open311.updates")


# A note on the public record is at most this long (as a description or a staff note);
# a back-end's longer note ends with the marker, so readers know it was cut.
MAX_NOTES = 4000
CUT_MARKER = " [… cut: the agency's note was longer than 4,000 characters]"
# A change dated further ahead of the gateway's clock than this is recorded at the time it
# arrived: it cannot have happened later, and dated 2099 it would outrank every later
# change (an older change never overwrites a newer one) and pin the public status.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Change:
    """A status change for one report, whoever made it."""

    status: str
    updated_datetime: datetime
    detailed_status: str | None = None
    status_notes: str | None = None
    agency_responsible: str | None = None
    expected_datetime: datetime | None = None

    def __post_init__(self) -> None:
        # A back-end's text may hold NUL, which PostgreSQL's text type refuses outright (and
        # SQLite would keep): dropped here, where every change enters, so both databases
        # store the same thing and the write never fails. Other control characters are
        # kept; XML answers leave them out (schemas/xmltext.py), JSON escapes them.
        for name in ("status", "detailed_status", "status_notes", "agency_responsible"):
            value = getattr(self, name)
            if value is not None and "\x00" in value:
                object.__setattr__(self, name, value.replace("\x00", ""))
        # A back-end's text has no length of its own (3 MB of notes were published):
        # cut, not refused, because refusing would lose the status with it, and the sync
        # would pull the same answer again at every round.
        if self.status_notes is not None and len(self.status_notes) > MAX_NOTES:
            kept = self.status_notes[: MAX_NOTES - len(CUT_MARKER)]
            object.__setattr__(self, "status_notes", kept + CUT_MARKER)
        for name, size in (("detailed_status", 64), ("agency_responsible", 200)):
            value = getattr(self, name)  # the columns' sizes (models.py)
            if value is not None and len(value) > size:
                object.__setattr__(self, name, value[:size])


def dedup_key(source: str, request_id: int, change: Change, update_id: str | None) -> str:
    if update_id:
        return f"{source}:{request_id}:{update_id}"[:300]
    fingerprint = "|".join(
        str(x)
        for x in (
            change.status,
            change.detailed_status,
            change.status_notes,
            change.updated_datetime.isoformat(),
        )
    )
    return f"{source}:{request_id}:{hashlib.sha256(fingerprint.encode()).hexdigest()[:32]}"


def record_change(
    session: Session,
    request: ServiceRequest,
    change: Change,
    *,
    source: str,
    update_id: str | None = None,
    history_only: bool = False,
) -> RequestUpdate | None:
    """Keep the change in the history and apply it when it is the newest (and not
    `history_only`). None = seen before."""
    # The key from the change as sent, so that the same change pulled again is known.
    key = dedup_key(source, request.id, change, update_id)
    received = utcnow()
    when = change.updated_datetime
    if when > received + CLOCK_SKEW:
        log.warning(
            "change dated in the future recorded at its arrival",
            extra={"request_id": request.public_id or request.id, "source": source},
        )
        when = received
    values = {
        "request_id": request.id,
        "dedup_key": key,
        "source": source,
        "status": change.status,
        "detailed_status": change.detailed_status,
        "status_notes": change.status_notes,
        "agency_responsible": change.agency_responsible,
        "updated_datetime": when,
        "expected_datetime": change.expected_datetime,
        "created_at": received,
    }
    # Two syncs (or a sync and a webhook) may bring the same change at once.
    stmt = insert_ignoring_conflicts(session, RequestUpdate, ["dedup_key"])
    # The row comes back as the ORM object, not its id to load again: one statement less.
    stored = session.scalar(stmt.values(values).returning(RequestUpdate))
    if stored is None:
        return None
    applied = not history_only and when >= request.updated_datetime
    # What the reporter is told about: the public status or its detail changing, not a note.
    news = applied and (request.status, request.detailed_status) != (
        change.status,
        change.detailed_status,
    )
    if applied:
        request.status = change.status
        request.detailed_status = change.detailed_status
        if change.status_notes is not None:
            request.status_notes = change.status_notes
        if change.agency_responsible:
            request.agency_responsible = change.agency_responsible
        if change.expected_datetime is not None:
            request.expected_datetime = change.expected_datetime
        request.updated_datetime = when
        log.info(
            "status change",
            extra={
                "request_id": request.public_id or request.id,
                "status": change.status,
                "detailed_status": change.detailed_status,
                "source": source,
            },
        )
    session.flush()
    if news:
        queue_for_change(session, request, stored)
    return stored


def apply_backend_updates(
    session: Session, destination: str, agency_name: str, updates: Iterable[Update]
) -> int:
    """Updates read from (or pushed by) one destination's back-end. Returns how many were new."""
    fresh = 0
    for update in updates:
        delivery = _delivery_for(session, destination, update)
        if delivery is None:
            log.info("update for unknown %s id ignored", destination)
            continue
        if update.backend_token and not delivery.backend_id:
            delivery.backend_id = update.backend_id
        if not delivery.primary:
            # A copy's recipient does not decide the public status of the report.
            continue
        status = update.status if update.status in ("open", "closed") else "open"
        change = Change(
            status=status,
            updated_datetime=update.updated_datetime,
            detailed_status=update.detailed_status,
            status_notes=update.status_notes,
            agency_responsible=update.agency_responsible or agency_name,
            expected_datetime=update.expected_datetime,
        )
        if record_change(
            session, delivery.request, change, source=destination, update_id=update.update_id
        ):
            fresh += 1
    return fresh


def _delivery_for(session: Session, destination: str, update: Update) -> Delivery | None:
    clauses = [Delivery.backend_id == update.backend_id]
    if update.backend_token:
        clauses.append(Delivery.backend_token == update.backend_token)
    return session.scalar(
        select(Delivery).where(Delivery.destination == destination, or_(*clauses)).limit(1)
    )
