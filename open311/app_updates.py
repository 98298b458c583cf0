"""Updates from the app that filed a report (POST servicerequestupdates, mySociety's
extension): who may send one, what of it reaches the public record, and its way on to the
agency's back-end.

Every update accepted is kept (`app_update`) and shown to the owning agency's staff in the
report's history. What reaches the public record is the agency's choice (configuration:
`agencies[].app_updates`), off by default: an app's comment becomes a public note only
with `public_comments`, and its status changes the report only with `status_changes`. A
staff or admin key speaks for the agency, so its comment and status are published. When
the owning agency's adapter accepts updates, the update also gets an outbox row of its
own, which waits until the report itself has reached that destination.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.requests import CLOSING_STATUSES

from .catalog import Catalog
from .db import utcnow
from .keys import Caller
from .models import AppUpdate, Delivery, ServiceRequest
from .updates import Change, record_change


class NotYours(Exception):
    """The key may read the report but did not file it and does not own it."""


class KeyReused(Exception):
    """The app's update id (or Idempotency-Key) came before with other data."""


@dataclass(frozen=True)
class IncomingUpdate:
    client_key: str  # "update_id:…" or "idempotency:…": what makes a retry a retry
    fingerprint: str  # what the POST said (schemas-free, personal fields left out)
    status: str | None = None  # mySociety's word, lower-case ("fixed", "reopen", …)
    description: str | None = None
    media_url: str | None = None


def open_or_closed(word: str | None) -> str | None:
    """The GeoReport status a mySociety status word stands for."""
    if word is None:
        return None
    return "closed" if word in CLOSING_STATUSES else "open"


def owner_of(row: ServiceRequest) -> Delivery | None:
    """The report's primary delivery: its agency speaks for the report (None for rows that
    were never routed, such as imported history)."""
    return next((d for d in row.deliveries if d.primary), None)


def post_update(
    session: Session,
    catalog: Catalog,
    who: Caller,
    row: ServiceRequest,
    given: IncomingUpdate,
    accepts_updates: Callable[[str], bool],
) -> AppUpdate:
    """Keep the update, publish what the agency allows and queue it for the back-end.
    The same update sent again answers the first one. Raises NotYours and KeyReused."""
    seen = session.scalar(
        select(AppUpdate).where(
            AppUpdate.api_key_id == who.key_id, AppUpdate.client_key == given.client_key
        )
    )
    if seen is not None:
        if seen.fingerprint != given.fingerprint:
            raise KeyReused(given.client_key)
        return seen
    owner = owner_of(row)
    for_agency = who.role == "admin" or (
        who.role == "staff" and owner is not None and owner.destination == who.agency
    )
    if not for_agency and who.key_id != row.api_key_id:
        raise NotYours(row.public_id)
    agency = catalog.agencies.get(owner.destination) if owner is not None else None
    new_status = open_or_closed(given.status)
    public_comment = bool(given.description) and (
        for_agency or (agency is not None and agency.public_app_comments)
    )
    public_status = (
        new_status is not None
        and new_status != row.status
        and (for_agency or (agency is not None and agency.app_status_changes))
    )
    now = utcnow()
    update = AppUpdate(
        public_id=f"U{secrets.token_hex(8).upper()}",
        request_id=row.id,
        api_key_id=who.key_id,
        client_key=given.client_key,
        fingerprint=given.fingerprint,
        status=new_status,
        detailed_status=given.status,
        description=given.description,
        media_url=given.media_url,
        updated_datetime=now,
        public_comment=public_comment,
        public_status=public_status,
        created_at=now,
    )
    session.add(update)
    session.flush()
    if public_comment or public_status:
        record_change(
            session,
            row,
            Change(
                status=new_status if public_status and new_status else row.status,
                detailed_status=given.status if public_status else row.detailed_status,
                status_notes=given.description if public_comment else None,
                updated_datetime=now,
            ),
            source=f"app:{who.name}"[:100],
            update_id=update.public_id,
        )
    if owner is not None and accepts_updates(owner.destination):
        # request_id, not the relationship: this row is not one of the report's deliveries.
        session.add(
            Delivery(
                request_id=row.id,
                destination=owner.destination,
                primary=False,
                idempotency_key=f"{row.public_id}:{owner.destination}:{update.public_id}",
                state="pending",
                next_attempt_at=now,
                created_at=now,
                app_update_id=update.id,
            )
        )
    session.flush()
    return update


def updates_of(session: Session, row: ServiceRequest) -> list[AppUpdate]:
    """Every update apps sent on the report, oldest first (for its agency's staff)."""
    return list(
        session.scalars(
            select(AppUpdate)
            .where(AppUpdate.request_id == row.id)
            .order_by(AppUpdate.created_at, AppUpdate.id)
        )
    )
