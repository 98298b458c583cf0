"""The audit log: every staff read of a private report or of personal fields."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import utcnow
from .keys import Caller
from .models import AuditEntry


def record_reads(
    session: Session,
    who: Caller,
    action: str,
    request_ids: Iterable[str],
    detail: str | None = None,
) -> int:
    now = utcnow()
    count = 0
    for request_id in request_ids:
        session.add(
            AuditEntry(
                at=now,
                key_name=who.name,
                agency=who.agency,
                action=action,
                request_public_id=request_id,
                detail=detail,
            )
        )
        count += 1
    return count


def entries(session: Session, request_id: str | None = None, limit: int = 500) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if request_id:
        stmt = stmt.where(AuditEntry.request_public_id == request_id)
    return list(session.scalars(stmt))


def record_event(session: Session, who: Caller, action: str, detail: str | None = None) -> None:
    """Something a member of staff did that concerns no single report (signing in or out)."""
    session.add(
        AuditEntry(at=utcnow(), key_name=who.name, agency=who.agency, action=action, detail=detail)
    )
