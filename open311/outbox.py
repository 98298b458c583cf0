"""The outbox worker: claims due deliveries, hands each to its agency's adapter, and
records the outcome. Any number of workers on any number of hosts can share one database.

Claiming is one statement (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's single writer
makes it atomic there) that also takes back deliveries whose worker died (lease expired).
No transaction stays open while a back-end is called, and a worker acknowledges only a
delivery it still holds, so a slow worker whose lease ran out cannot overwrite the work of
the one that took over.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, selectinload

from adapters.base import Adapter, DeliveryError, PermanentFailure, Receipt, Ticket

from .catalog import Catalog
from .db import Database, insert_ignoring_conflicts, utcnow
from .delivery import ticket_for
from .models import Delivery, DestinationState, RequestUpdate, ServiceRequest
from .updates import Change, record_change

log = logging.getLogger("open311.outbox")


@dataclass(frozen=True)
class OutboxPolicy:
    batch_size: int = 10
    lease: timedelta = timedelta(minutes=2)
    backoff_base: float = 30.0  # seconds before the first retry (on average half of it)
    backoff_cap: float = 3600.0
    max_attempts: int = 15  # about a day and a half with the defaults, then dead
    pause_after: int = 5  # consecutive failures before a destination is paused
    pause_base: float = 60.0
    pause_cap: float = 1800.0


def backoff(attempts: int, policy: OutboxPolicy, rng: random.Random) -> float:
    """Full jitter: spreads the retries of many reports so a returning back-end is not
    hit by all of them in the same second."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** max(0, attempts - 1))
    return rng.uniform(0, ceiling)


def scrub(message: str, ticket: Ticket | None) -> str:
    """Errors are kept and shown to operators: cut them short and blank out any personal
    value the back-end may have echoed."""
    text = message.replace("\n", " ")[:500]
    if ticket is not None:
        for value in vars(ticket.contact).values():
            if value and len(value) >= 3:
                text = text.replace(value, "[redacted]")
    return text


def ensure_destinations(session: Session, names: list[str]) -> None:
    if not names:
        return
    stmt = insert_ignoring_conflicts(session, DestinationState, ["destination"])
    session.execute(stmt.values([{"destination": n, "consecutive_failures": 0} for n in names]))


def held_by(owner: str, delivery_id: int) -> Any:
    """UPDATE this delivery only while `owner` still holds its lease."""
    return update(Delivery).where(
        Delivery.id == delivery_id, Delivery.lease_owner == owner, Delivery.state == "inflight"
    )


class Outbox:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        adapters: dict[str, Adapter],
        policy: OutboxPolicy | None = None,
        owner: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.adapters = adapters
        self.policy = policy or OutboxPolicy()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.rng = random.Random(seed)
        with db.write() as session, session.begin():
            ensure_destinations(session, sorted(catalog.agencies))

    # --- claiming ---------------------------------------------------------------------

    def claim(self, limit: int | None = None, now: datetime | None = None) -> list[int]:
        now = now or utcnow()
        paused = select(DestinationState.destination).where(DestinationState.paused_until > now)
        due = (
            select(Delivery.id)
            .where(
                or_(
                    and_(Delivery.state == "pending", Delivery.next_attempt_at <= now),
                    and_(Delivery.state == "inflight", Delivery.lease_until < now),
                ),
                Delivery.destination.not_in(paused),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit or self.policy.batch_size)
            .with_for_update(skip_locked=True)
            # Materialised so PostgreSQL cannot re-run the LIMIT subquery and take more.
            .cte("due")
            .prefix_with("MATERIALIZED")
        )
        stmt = (
            update(Delivery)
            .where(Delivery.id.in_(select(due.c.id)))
            .values(
                state="inflight",
                lease_owner=self.owner,
                lease_until=now + self.policy.lease,
                attempts=Delivery.attempts + 1,
            )
            .returning(Delivery.id)
        )
        with self.db.write() as session, session.begin():
            return sorted(session.scalars(stmt).all())

    # --- delivering -------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> int:
        ids = self.claim(now=now)
        for delivery_id in ids:
            self.deliver(delivery_id)
        return len(ids)

    def drain(self, max_rounds: int = 1000) -> int:
        """Deliver until nothing is due (tests, `open311 worker --once`)."""
        total = 0
        for _ in range(max_rounds):
            done = self.run_once()
            if not done:
                break
            total += done
        return total

    def deliver(self, delivery_id: int) -> str:
        with self.db.write() as session, session.begin():
            # Renew the lease as the call starts, so the whole call runs inside it even when
            # earlier deliveries of the batch were slow; a lease already taken over is lost.
            held = session.execute(
                held_by(self.owner, delivery_id).values(lease_until=utcnow() + self.policy.lease)
            ).rowcount
            delivery = session.scalar(
                select(Delivery)
                .where(Delivery.id == delivery_id)
                .options(selectinload(Delivery.request).selectinload(ServiceRequest.contact))
            )
            if not held or delivery is None:
                return "lost"
            ticket = ticket_for(delivery.request, delivery)
            attempts = delivery.attempts
        adapter = self.adapters.get(ticket.destination)
        started = time.monotonic()
        try:
            if adapter is None:
                raise PermanentFailure(f"no agency {ticket.destination!r} in the configuration")
            receipt = adapter.submit(ticket)
        except DeliveryError as exc:
            outcome = self._failed(delivery_id, ticket, attempts, exc)
        except Exception as exc:  # an adapter bug must not kill the worker or lose the report
            log.exception("adapter %s raised", ticket.destination)
            outcome = self._failed(
                delivery_id, ticket, attempts, DeliveryError(f"{type(exc).__name__}: {exc}")
            )
        else:
            outcome = self._succeeded(delivery_id, ticket, receipt)
        log.info(
            "delivery",
            extra={
                "delivery_id": delivery_id,
                "request_id": ticket.request_id,
                "destination": ticket.destination,
                "attempt": attempts,
                "outcome": outcome,
                "latency_ms": round((time.monotonic() - started) * 1000),
            },
        )
        return outcome

    def _succeeded(self, delivery_id: int, ticket: Ticket, receipt: Receipt) -> str:
        now = utcnow()
        with self.db.write() as session, session.begin():
            acked = session.execute(
                held_by(self.owner, delivery_id).values(
                    state="done",
                    backend_id=receipt.backend_id,
                    backend_token=receipt.backend_token,
                    delivered_at=now,
                    last_error=None,
                    lease_owner=None,
                    lease_until=None,
                )
            ).rowcount
            if not acked:
                # Someone else holds it now; their acknowledgement will count.
                return "lost"
            self._healthy(session, ticket.destination)
            if ticket.primary:
                self._received(session, delivery_id, ticket, receipt, now)
        return "done"

    def _received(
        self, session: Session, delivery_id: int, ticket: Ticket, receipt: Receipt, now: datetime
    ) -> None:
        """The owning agency has the report: say so on the public record, with its own
        reference, so a resident can quote it when calling that agency."""
        request = session.scalar(
            select(ServiceRequest)
            .join(Delivery, Delivery.request_id == ServiceRequest.id)
            .where(Delivery.id == delivery_id)
        )
        if request is None:
            return
        agency = self.catalog.agencies.get(ticket.destination)
        name = agency.name if agency else ticket.destination
        notes = receipt.status_notes or f"Received by {name}"
        if receipt.status_notes is None and receipt.backend_id not in (None, ticket.request_id):
            notes += f" as {receipt.backend_id}"
        change = Change(
            status=receipt.status if receipt.status in ("open", "closed") else "open",
            updated_datetime=now,
            detailed_status=receipt.detailed_status or "received",
            status_notes=notes + ".",
            agency_responsible=name,
        )
        # Staff may act on a report before its acknowledgement is recorded (the inbox shows
        # it at once); the receipt describes the report as it was handed over and must not
        # undo what they did since, so it then goes to the history only.
        acted_on = session.scalar(
            select(RequestUpdate.id).where(RequestUpdate.request_id == request.id).limit(1)
        )
        record_change(
            session,
            request,
            change,
            source=ticket.destination,
            update_id=f"receipt:{delivery_id}",
            history_only=acted_on is not None,
        )

    def _failed(self, delivery_id: int, ticket: Ticket, attempts: int, exc: DeliveryError) -> str:
        now = utcnow()
        message = scrub(str(exc) or type(exc).__name__, ticket)
        dead = not exc.retryable or attempts >= self.policy.max_attempts
        if dead:
            values: dict[str, Any] = {"state": "dead", "last_error": message}
        else:
            wait = backoff(attempts, self.policy, self.rng)
            if exc.retry_after:
                wait = max(wait, min(exc.retry_after, self.policy.backoff_cap))
            values = {
                "state": "pending",
                "last_error": message,
                "next_attempt_at": now + timedelta(seconds=wait),
            }
        with self.db.write() as session, session.begin():
            owned = session.execute(
                held_by(self.owner, delivery_id).values(
                    **values, lease_owner=None, lease_until=None
                )
            ).rowcount
            if not owned:
                return "lost"
            if exc.retryable:
                self._unhealthy(session, ticket.destination, message, now)
        return "dead" if dead else "retry"

    # --- the per-destination breaker --------------------------------------------------

    def _healthy(self, session: Session, destination: str) -> None:
        session.execute(
            update(DestinationState)
            .where(DestinationState.destination == destination)
            .values(consecutive_failures=0, paused_until=None, last_error=None)
        )

    def _unhealthy(self, session: Session, destination: str, message: str, now: datetime) -> None:
        failures = session.scalar(
            update(DestinationState)
            .where(DestinationState.destination == destination)
            .values(
                consecutive_failures=DestinationState.consecutive_failures + 1,
                last_error=message,
            )
            .returning(DestinationState.consecutive_failures)
        )
        if failures is not None and failures >= self.policy.pause_after:
            over = failures - self.policy.pause_after
            pause = min(self.policy.pause_cap, self.policy.pause_base * 2**over)
            session.execute(
                update(DestinationState)
                .where(DestinationState.destination == destination)
                .values(paused_until=now + timedelta(seconds=pause))
            )
            log.warning(
                "destination %s paused for %ss after %s failures", destination, pause, failures
            )

    # --- running ------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, idle_sleep: float = 1.0) -> None:
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the database may be briefly away; keep the worker alive
                log.exception("outbox round failed")
                worked = 0
            if not worked:
                stop.wait(idle_sleep)

    def close(self) -> None:
        for adapter in self.adapters.values():
            adapter.close()
