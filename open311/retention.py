"""Erasing personal data the gateway no longer needs: the reporter's contact, the staff's
internal notes and the stored delivery errors (a back-end may have echoed the contact in
one, past the redaction) of reports closed for longer than the retention window. The
public record itself stays."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import CompoundSelect, Select, delete, func, select, union, update
from sqlalchemy.orm import Session

from .db import utcnow
from .models import Delivery, DestinationState, ReporterContact, ServiceRequest, StaffNote


def _expired(cutoff: datetime) -> Select[int]:
    return select(ServiceRequest.id).where(
        ServiceRequest.status == "closed", ServiceRequest.updated_datetime < cutoff
    )


def _holding(cutoff: datetime) -> CompoundSelect:
    """Ids of expired reports that still hold a contact, an internal note or a stored
    delivery error."""
    expired = _expired(cutoff)
    return union(
        select(ReporterContact.request_id).where(ReporterContact.request_id.in_(expired)),
        select(StaffNote.request_id).where(StaffNote.request_id.in_(expired)),
        select(Delivery.request_id).where(
            Delivery.request_id.in_(expired), Delivery.last_error.is_not(None)
        ),
    )


def count_personal_data(
    session: Session, older_than: timedelta, now: datetime | None = None
) -> int:
    """How many reports purge_personal_data would erase something from."""
    cutoff = (now or utcnow()) - older_than
    return session.scalar(select(func.count()).select_from(_holding(cutoff).subquery())) or 0


def purge_personal_data(
    session: Session, older_than: timedelta, now: datetime | None = None
) -> int:
    """Erase contacts, internal notes and delivery errors of reports closed before the
    window (and a destination's last error when it is one of those); returns how many
    reports had something erased."""
    cutoff = (now or utcnow()) - older_than
    ids = list(session.scalars(_holding(cutoff)))
    if ids:
        session.execute(delete(ReporterContact).where(ReporterContact.request_id.in_(ids)))
        session.execute(delete(StaffNote).where(StaffNote.request_id.in_(ids)))
        errors = select(Delivery.last_error).where(
            Delivery.request_id.in_(ids), Delivery.last_error.is_not(None)
        )
        session.execute(
            update(DestinationState)
            .where(DestinationState.last_error.in_(errors))
            .values(last_error=None)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.request_id.in_(ids), Delivery.last_error.is_not(None))
            .values(last_error=None)
        )
    return len(ids)
