"""Erasing personal data the gateway no longer needs: the reporter's contact on reports
closed for longer than the retention window. The public record itself stays."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .db import utcnow
from .models import ReporterContact, ServiceRequest


def _expired(cutoff: datetime):  # type: ignore[no-untyped-def]
    return select(ServiceRequest.id).where(
        ServiceRequest.status == "closed", ServiceRequest.updated_datetime < cutoff
    )


def count_personal_data(
    session: Session, older_than: timedelta, now: datetime | None = None
) -> int:
    cutoff = (now or utcnow()) - older_than
    return (
        session.scalar(
            select(func.count())
            .select_from(ReporterContact)
            .where(ReporterContact.request_id.in_(_expired(cutoff)))
        )
        or 0
    )


def purge_personal_data(
    session: Session, older_than: timedelta, now: datetime | None = None
) -> int:
    cutoff = (now or utcnow()) - older_than
    result = session.execute(
        delete(ReporterContact).where(ReporterContact.request_id.in_(_expired(cutoff)))
    )
    return result.rowcount or 0
