"""The outbox worker: claims due deliveries, hands each to its agency's adapter, and
records the outcome. Any number of workers on any number of hosts can share one database.

A destination's trouble stays its own. Claims are made per destination, each destination
has its own lane (one thread, one call at a time) in a running worker, and a destination
found paused mid-batch has the rest of its batch released at once, so a slow, hanging or
failing back-end never delays another agency's reports. Claims are leased for seconds and
the lease is renewed while the worker holds them (a heartbeat), so the rows of a worker
that dies are taken over promptly. No transaction stays open while a back-end is called,
and a worker acknowledges only a delivery it still holds, so a slow worker whose lease ran
out cannot overwrite the work of the one that took over.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, aliased, joinedload

from adapters.base import Adapter, DeliveryError, Receipt, Ticket, UpdateTicket
from adapters.notify import Notice

from . import metrics
from .catalog import Catalog
from .db import (
    Database,
    changed_rows,
    database_unavailable,
    insert_ignoring_conflicts,
    utcnow,
)
from .delivery import ticket_for, update_ticket_for
from .logs import credentials_in, redact
from .models import (
    Base,
    Delivery,
    DestinationState,
    RequestUpdate,
    ServiceRequest,
    undelivered,
)
from .notifications import Notices
from .updates import Change, record_change

log = logging.getLogger("open311.outbox")

T = TypeVar("T")

# What `deliver` answers: the outcome of one claimed delivery.
DONE = "done"  # acknowledged by the back-end
RETRY = "retry"  # failed, queued again with back-off
DEAD = "dead"  # failed for good (or too often); kept with its error
LOST = "lost"  # another worker holds it now (our lease ran out)
RELEASED = "released"  # not attempted: the destination is paused or the worker is stopping
SKIPPED = "skipped"  # a message to the reporter with nobody to tell any more; done, not sent


# The shortest lease a worker may run with: leases are stored in whole seconds, so the
# heartbeat every lease/4 must come at least a second before a truncated lease_until lapses.
MIN_LEASE_SECONDS = 4.0


@dataclass(frozen=True)
class OutboxPolicy:
    batch_size: int = 10  # deliveries claimed per destination at a time
    # Short, and renewed every lease/4 while the worker holds the row: a worker that dies
    # has its rows taken over by another within about this long.
    lease: timedelta = timedelta(seconds=20)
    backoff_base: float = 30.0  # seconds before the first retry (on average half of it)
    backoff_cap: float = 3600.0
    max_attempts: int = 15  # about a day and a half with the defaults, then dead
    pause_after: int = 5  # consecutive failures before a destination is paused
    pause_base: float = 60.0  # the first pause; doubled per pause that ends in a failure
    pause_cap: float = 1800.0
    # How long an acknowledgement (or a failure) is retried while the database is away,
    # before the worker gives up and lets the lease run out (the report is then sent
    # again, with the same idempotency key).
    database_retry: float = 60.0


def backoff(attempts: int, policy: OutboxPolicy, rng: random.Random) -> float:
    """Full jitter: spreads the retries of many reports so a returning back-end is not
    hit by all of them in the same second."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** max(0, attempts - 1))
    return rng.uniform(0, ceiling)


def pause_length(failures: int, policy: OutboxPolicy) -> float:
    """Seconds to pause a destination after `failures` consecutive failures. Failures made
    while it is paused are not counted, so after the first pause each further failure is
    the first try after a pause ended: the pause doubles per round, not per failed row."""
    rounds = max(0, failures - policy.pause_after)
    # A back-end gone for good adds a round per pause for ever: past 1,024 rounds (three
    # weeks of the default 30-minute pauses) 2**rounds no longer fits a float and raised
    # OverflowError in the worker. 64 doublings exceed any cap already.
    return min(policy.pause_cap, policy.pause_base * 2 ** min(rounds, 64))


AnyTicket = Ticket | UpdateTicket | Notice


def scrub(message: str, ticket: AnyTicket | None, credentials: Iterable[str] = ()) -> str:
    """Errors are kept and shown to operators (`outbox list`, `outbox status`, /readyz):
    mask every personal value of the ticket and every credential of the destination the
    back-end may have echoed, raw or percent-, XML- or JSON-encoded (`logs.redact`, the
    rule log lines follow too), then cut the text short."""
    known: list[str] = list(credentials)
    if ticket is not None:
        if isinstance(ticket, Notice):
            known.append(ticket.to)
        else:
            known += [v for v in vars(ticket.contact).values() if isinstance(v, str)]
    return redact(message, known).replace("\n", " ")[:500]


def destination_credentials(catalog: Catalog, destination: str) -> list[str]:
    """The credentials in a destination's settings (an agency's adapter, a notification
    channel), which its errors must never keep."""
    agency = catalog.agencies.get(destination)
    if agency is not None:
        return credentials_in(agency.settings)
    channel = destination.removeprefix("notify/")
    settings = getattr(catalog.notifications, channel, None) if catalog.notifications else None
    return credentials_in(settings) if isinstance(settings, dict) else []


def ensure_destinations(session: Session, names: list[str]) -> None:
    if not names:
        return
    stmt = insert_ignoring_conflicts(session, DestinationState, ["destination"])
    session.execute(stmt.values([{"destination": n, "consecutive_failures": 0} for n in names]))


def is_due(now: datetime) -> Any:
    """Deliveries a worker may claim at `now`: pending ones whose time has come, and
    in-flight ones whose worker let the lease run out (it died or hung). An app's update
    waits until the report itself reached that destination: the back-end needs the
    report's id there to attach the update to."""
    report = aliased(Delivery)
    delivered = (
        select(report.id)
        .where(
            report.request_id == Delivery.request_id,
            report.destination == Delivery.destination,
            report.app_update_id.is_(None),
            report.state == "done",
        )
        .exists()
    )
    return and_(
        # Implied by what follows; said on its own, as ix_delivery_open says it, so that
        # the database can prove that partial index (the rows not yet delivered) serves.
        undelivered(),
        or_(
            and_(Delivery.state == "pending", Delivery.next_attempt_at <= now),
            and_(Delivery.state == "inflight", Delivery.lease_until < now),
        ),
        or_(Delivery.app_update_id.is_(None), delivered),
    )


def held_by(owner: str, *delivery_ids: int) -> Any:
    """UPDATE these deliveries only while `owner` still holds their lease. A Core UPDATE
    of the table: an ORM one runs SQLAlchemy's bulk-update bookkeeping for objects that
    these sessions never loaded (a fifth of a delivery's acknowledgement)."""
    rows = _DELIVERY.c
    return update(_DELIVERY).where(
        rows.id.in_(delivery_ids), rows.lease_owner == owner, rows.state == "inflight"
    )


_DELIVERY = Base.metadata.tables[Delivery.__tablename__]


def _with_report(delivery_id: int) -> Any:
    """The delivery with its report and the report's contact, in one statement."""
    return (
        select(Delivery)
        .where(Delivery.id == delivery_id)
        .options(joinedload(Delivery.request).joinedload(ServiceRequest.contact))
    )


def _paused(session: Session, destination: str, now: datetime) -> bool:
    until = session.scalar(
        select(DestinationState.paused_until).where(DestinationState.destination == destination)
    )
    return until is not None and until > now


def requeue(
    session: Session, *, delivery_id: int | None = None, dead: bool = False, now: datetime
) -> int:
    """Queue one delivery (dead or waiting) or every dead one again, due now, with a fresh
    count of attempts; answers how many. An operator retrying says the back-end is back,
    so the pause of the destinations retried is lifted, and only theirs."""
    if (delivery_id is None) == (not dead):
        raise ValueError("give a delivery id or dead=True, not both")
    if dead:
        which = Delivery.state == "dead"
    else:
        which = and_(Delivery.id == delivery_id, Delivery.state.in_(["dead", "pending"]))
    destinations = session.scalars(
        update(Delivery)
        .where(which)
        .values(state="pending", attempts=0, next_attempt_at=now)
        .returning(Delivery.destination)
    ).all()
    if destinations:
        session.execute(
            update(DestinationState)
            .where(DestinationState.destination.in_(set(destinations)))
            .values(paused_until=None, consecutive_failures=0)
        )
    return len(destinations)


class Outbox:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        adapters: dict[str, Adapter],
        policy: OutboxPolicy | None = None,
        owner: str | None = None,
        seed: int | None = None,
        notices: Notices | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        # The destinations this worker can deliver to: it claims nothing else, so a worker
        # with an older or a different configuration leaves other agencies' reports waiting.
        self.adapters = adapters
        # The reporter's channels, as destinations of their own ("notify/email", …): a
        # mail server that is down pauses the e-mails, not the reports or the texts.
        self.notices = notices
        self.destinations = sorted(adapters) + (notices.destinations if notices else [])
        self.policy = policy or OutboxPolicy()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.rng = random.Random(seed)
        self._held: set[int] = set()
        self._held_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._closing = threading.Event()
        with db.write() as session, session.begin():
            extra = notices.destinations if notices else []
            ensure_destinations(session, sorted(catalog.agencies) + extra)

    # --- claiming ---------------------------------------------------------------------

    def _due(self, destination: str, now: datetime, limit: int) -> Any:
        due = (
            select(Delivery.id)
            .where(Delivery.destination == destination, is_due(now))
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # Materialised so PostgreSQL cannot re-run the LIMIT subquery and take more.
            .cte("due")
            .prefix_with("MATERIALIZED")
        )
        return (
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

    def claim(
        self,
        limit: int | None = None,
        now: datetime | None = None,
        destinations: Collection[str] | None = None,
    ) -> dict[str, list[int]]:
        """Claim up to `limit` due deliveries (and deliveries whose lease expired) for each
        destination this worker has and that is not paused; answers them by destination."""
        now = now or utcnow()
        names = sorted(self.destinations if destinations is None else destinations)
        if not names:
            return {}
        claimed: dict[str, list[int]] = {}
        with self.db.write() as session, session.begin():
            paused = set(
                session.scalars(
                    select(DestinationState.destination).where(
                        DestinationState.destination.in_(names), DestinationState.paused_until > now
                    )
                )
            )
            for name in names:
                if name in paused:
                    continue
                ids = session.scalars(self._due(name, now, limit or self.policy.batch_size)).all()
                if ids:
                    claimed[name] = sorted(ids)
        self._hold(i for ids in claimed.values() for i in ids)
        return claimed

    # --- the lease heartbeat ------------------------------------------------------------

    def _hold(self, ids: Iterable[int]) -> None:
        with self._held_lock:
            before = len(self._held)
            self._held.update(ids)
            if len(self._held) == before or (self._heartbeat and self._heartbeat.is_alive()):
                return
            self._heartbeat = threading.Thread(
                target=self._beat, name=f"open311-lease-{self.owner}", daemon=True
            )
            self._heartbeat.start()

    def _let_go(self, ids: Iterable[int]) -> None:
        with self._held_lock:
            self._held.difference_update(ids)

    def _beat(self) -> None:
        """Renew the lease of every row this worker holds, every quarter lease, until it
        holds none: a row waits leased behind a slow call of its batch, and a call may take
        longer than the lease; neither may be taken over while this worker is alive."""
        interval = self.policy.lease.total_seconds() / 4
        while not self._closing.wait(interval):
            with self._held_lock:
                if not self._held:
                    self._heartbeat = None
                    return
            try:
                self.renew()
            except Exception:  # the database may be briefly away; the next beat tries again
                log.warning("lease renewal failed", exc_info=True)

    def renew(self) -> int:
        """Push the lease of every row this worker holds a full lease ahead."""
        with self.db.write() as session, session.begin():
            return changed_rows(
                session.execute(
                    update(Delivery)
                    .where(Delivery.lease_owner == self.owner, Delivery.state == "inflight")
                    .values(lease_until=utcnow() + self.policy.lease)
                )
            )

    def release(self, ids: Collection[int]) -> int:
        """Give claimed rows back untouched (not attempted): due as they were, the attempt
        the claim counted taken back. Used when a destination is paused mid-batch and when
        the worker stops, so the rows do not sit out a lease."""
        if not ids:
            return 0

        def write() -> int:
            with self.db.write() as session, session.begin():
                return changed_rows(
                    session.execute(
                        held_by(self.owner, *ids).values(
                            state="pending",
                            lease_owner=None,
                            lease_until=None,
                            attempts=Delivery.attempts - 1,
                        )
                    )
                )

        try:
            return self._through_outage(write)
        finally:
            self._let_go(ids)

    def _through_outage(self, write: Callable[[], T]) -> T:
        """Run a write, retrying while the database is away for up to `database_retry`
        seconds: an acknowledgement dropped here means the report is sent again."""
        deadline = time.monotonic() + self.policy.database_retry
        wait = 0.25
        while True:
            try:
                return write()
            except Exception as exc:
                if not database_unavailable(exc) or time.monotonic() + wait > deadline:
                    raise
                log.warning(
                    "database unavailable (%s), retrying in %.1fs", type(exc).__name__, wait
                )
                if self._closing.wait(wait):
                    raise
                wait = min(wait * 2, 2.0)

    # --- delivering -------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> int:
        """Claim once for every destination and deliver what was claimed, one destination
        after another (tests, `open311 worker --once`); answers how many were claimed."""
        claimed = self.claim(now=now)
        for ids in claimed.values():
            self.deliver_batch(ids, now=now)
        return sum(len(ids) for ids in claimed.values())

    def drain(self, max_rounds: int = 1000) -> int:
        """Deliver until nothing is due (tests, `open311 worker --once`)."""
        total = 0
        for _ in range(max_rounds):
            done = self.run_once()
            if not done:
                break
            total += done
        return total

    def deliver_batch(
        self, ids: list[int], stop: threading.Event | None = None, now: datetime | None = None
    ) -> list[str]:
        """Deliver one destination's claimed rows in order. Once the destination is found
        paused (by this batch's failures or another worker's), or the worker is stopping,
        the rest are released at once instead of being held or tried."""
        outcomes: list[str] = []
        try:
            for index, delivery_id in enumerate(ids):
                if stop is not None and stop.is_set():
                    self.release(ids[index:])
                    break
                outcome = self.deliver(delivery_id, now=now)
                outcomes.append(outcome)
                if outcome == RELEASED:
                    self.release(ids[index + 1 :])
                    break
        finally:
            # Whatever happened (the database away for longer than retried), the heartbeat
            # stops renewing this batch: rows not released run out their lease.
            self._let_go(ids)
        return outcomes

    def _start(self, delivery_id: int, clock: datetime | None) -> tuple[AnyTicket, int] | str:
        """Build the ticket, renewing the lease first when less than half of it is left
        (`_ready` reads the common case without a write); LOST when the row is
        no longer ours, RELEASED (and released) when its destination is paused (at `clock`,
        the claim's time, which tests move forward), SKIPPED (and done) when a message to
        the reporter has nobody to go to any more."""
        now = clock or utcnow()
        ready = self._ready(delivery_id, now)
        if ready is not None:
            return ready
        with self.db.write() as session, session.begin():
            held = changed_rows(
                session.execute(
                    held_by(self.owner, delivery_id).values(
                        lease_until=utcnow() + self.policy.lease
                    )
                )
            )
            delivery = session.scalar(_with_report(delivery_id))
            if not held or delivery is None:
                return LOST
            if _paused(session, delivery.destination, now):
                session.execute(
                    held_by(self.owner, delivery_id).values(
                        state="pending",
                        lease_owner=None,
                        lease_until=None,
                        attempts=Delivery.attempts - 1,
                    )
                )
                return RELEASED
            ticket = self._ticket(session, delivery)
            if isinstance(ticket, str):
                session.execute(
                    held_by(self.owner, delivery_id).values(
                        state="done",
                        last_error=f"not sent: {ticket}",
                        lease_owner=None,
                        lease_until=None,
                    )
                )
                log.info(
                    "notification not sent", extra={"delivery_id": delivery_id, "reason": ticket}
                )
                return SKIPPED
            return ticket, delivery.attempts

    def _ready(self, delivery_id: int, now: datetime) -> tuple[AnyTicket, int] | None:
        """The ticket, read without a write, when nothing about the row needs one: still
        ours with at least half its lease left, its destination not paused, and (a message
        to the reporter) someone to send it to. None sends `_start` down its writing path,
        which renews the lease or settles the row. The heartbeat renews a held row every
        quarter lease, so the renewal here was a second write lock per delivery on SQLite
        (and a third of the worker's own cost) for a lease that was rarely short."""
        with self.db.read() as session:
            delivery = session.scalar(_with_report(delivery_id))
            if (
                delivery is None
                or delivery.lease_owner != self.owner
                or delivery.state != "inflight"
                or delivery.lease_until is None
                or delivery.lease_until < utcnow() + self.policy.lease / 2
                or _paused(session, delivery.destination, now)
            ):
                return None
            ticket = self._ticket(session, delivery)
            return None if isinstance(ticket, str) else (ticket, delivery.attempts)

    def _ticket(self, session: Session, delivery: Delivery) -> AnyTicket | str:
        """What the adapter is handed for this row, or why a message to the reporter is not
        sent (a str)."""
        if delivery.request_update_id is not None and self.notices is not None:
            return self.notices.notice_for(session, delivery)
        if delivery.app_update_id is not None:
            return update_ticket_for(session, delivery)
        return ticket_for(delivery.request, delivery)

    def deliver(self, delivery_id: int, now: datetime | None = None) -> str:
        """Hand one claimed delivery to its adapter and record what happened; answers the
        outcome (DONE, RETRY, DEAD, LOST or RELEASED). `now` is the round's clock for
        pauses and back-off (tests step it forward); leases always run on the real one."""
        try:
            started = self._through_outage(partial(self._start, delivery_id, now))
            if started == LOST:
                # Claimed by this worker, taken by another before the call: this worker
                # stalled past its lease (or two claims overlapped). Not sent from here.
                log.warning(
                    "delivery lease lost before the call", extra={"delivery_id": delivery_id}
                )
            if isinstance(started, str):
                return started
            ticket, attempts = started
            began = time.monotonic()
            failure: DeliveryError | None = None
            try:
                if isinstance(ticket, Notice):
                    assert self.notices is not None  # only built when there are notices
                    receipt = self.notices.send(ticket)
                elif isinstance(ticket, UpdateTicket):
                    receipt = self.adapters[ticket.destination].submit_update(ticket)
                else:
                    receipt = self.adapters[ticket.destination].submit(ticket)
            except DeliveryError as exc:
                failure = exc
            except Exception as exc:  # an adapter bug must not kill the worker or lose the report
                log.exception("adapter %s raised", ticket.destination)
                failure = DeliveryError(f"{type(exc).__name__}: {exc}")
            if failure is None:
                record = partial(self._succeeded, delivery_id, ticket, receipt, now)
            else:
                record = partial(self._failed, delivery_id, ticket, attempts, failure, now)
            outcome = self._through_outage(record)
            self._outcome(delivery_id, ticket, attempts, outcome, time.monotonic() - began)
            return outcome
        finally:
            self._let_go([delivery_id])

    def _outcome(
        self, delivery_id: int, ticket: AnyTicket, attempt: int, outcome: str, seconds: float
    ) -> None:
        """The one place each attempted delivery's outcome is reported (log line, metrics)."""
        log.info(
            "delivery",
            extra={
                "delivery_id": delivery_id,
                "request_id": ticket.request_id,
                "destination": ticket.destination,
                "attempt": attempt,
                "outcome": outcome,
                "latency_ms": round(seconds * 1000),
            },
        )
        metrics.observe_delivery(ticket.destination, outcome, seconds)

    def _succeeded(
        self, delivery_id: int, ticket: AnyTicket, receipt: Receipt, clock: datetime | None = None
    ) -> str:
        now = clock or utcnow()
        with self.db.write() as session, session.begin():
            acked = changed_rows(
                session.execute(
                    held_by(self.owner, delivery_id).values(
                        state="done",
                        backend_id=receipt.backend_id,
                        backend_token=receipt.backend_token,
                        delivered_at=now,
                        last_error=None,
                        lease_owner=None,
                        lease_until=None,
                    )
                )
            )
            if not acked:
                # Someone else holds it now; their acknowledgement will count.
                return LOST
            self._healthy(session, ticket.destination, now)
            if isinstance(ticket, Ticket) and ticket.primary:
                self._received(session, delivery_id, ticket, receipt, now)
        return DONE

    def _received(
        self, session: Session, delivery_id: int, ticket: Ticket, receipt: Receipt, now: datetime
    ) -> None:
        """The owning agency has the report: say so on the public record, with its own
        reference, so a resident can quote it when calling that agency."""
        # With its contact, which record_change reads to tell the reporter (one SELECT).
        request = session.scalar(
            select(ServiceRequest)
            .join(Delivery, Delivery.request_id == ServiceRequest.id)
            .where(Delivery.id == delivery_id)
            .options(joinedload(ServiceRequest.contact))
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

    def _failed(
        self,
        delivery_id: int,
        ticket: AnyTicket,
        attempts: int,
        exc: DeliveryError,
        clock: datetime | None = None,
    ) -> str:
        now = clock or utcnow()
        message = scrub(
            str(exc) or type(exc).__name__,
            ticket,
            destination_credentials(self.catalog, ticket.destination),
        )
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
            owned = changed_rows(
                session.execute(
                    held_by(self.owner, delivery_id).values(
                        **values, lease_owner=None, lease_until=None
                    )
                )
            )
            if not owned:
                return LOST
            if exc.retryable:
                self._unhealthy(session, ticket.destination, message, now)
        return DEAD if dead else RETRY

    # --- the per-destination breaker --------------------------------------------------

    def _healthy(self, session: Session, destination: str, now: datetime) -> None:
        """A success closes the breaker (written only when it was open). After a pause the
        back-end is back: the reports that backed off while it was away are due now, not
        at the end of their own back-off."""
        failures = session.scalar(
            select(DestinationState.consecutive_failures).where(
                DestinationState.destination == destination
            )
        )
        if not failures:
            return
        session.execute(
            update(DestinationState)
            .where(DestinationState.destination == destination)
            .values(consecutive_failures=0, paused_until=None, last_error=None)
        )
        if failures < self.policy.pause_after:
            return
        session.execute(
            update(Delivery)
            .where(
                Delivery.destination == destination,
                Delivery.state == "pending",
                Delivery.next_attempt_at > now,
                Delivery.last_error.is_not(None),
            )
            .values(next_attempt_at=now)
        )

    def _unhealthy(self, session: Session, destination: str, message: str, now: datetime) -> None:
        # Failures of calls that were already under way when the destination was paused
        # are not counted (the WHERE skips a paused row): the pause is one round, however
        # many rows were in flight, and the next failure counted is the probe after it.
        failures = session.scalar(
            update(DestinationState)
            .where(
                DestinationState.destination == destination,
                or_(DestinationState.paused_until.is_(None), DestinationState.paused_until <= now),
            )
            .values(
                consecutive_failures=DestinationState.consecutive_failures + 1,
                last_error=message,
            )
            .returning(DestinationState.consecutive_failures)
        )
        if failures is not None and failures >= self.policy.pause_after:
            pause = pause_length(failures, self.policy)
            session.execute(
                update(DestinationState)
                .where(DestinationState.destination == destination)
                .values(paused_until=now + timedelta(seconds=pause))
            )
            log.warning(
                "destination %s paused for %ss after %s failures", destination, pause, failures
            )
            metrics.observe_pause(destination)

    # --- running ------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, idle_sleep: float = 1.0) -> None:
        """Deliver until `stop` is set: one lane (thread) per destination, fed by this
        loop's claims, so each destination's calls wait only on that destination."""
        wake = threading.Event()
        lanes = {name: _Lane(self, name, stop, wake) for name in self.destinations}
        try:
            while not stop.is_set():
                idle = [name for name, lane in lanes.items() if lane.idle()]
                try:
                    claimed = self.claim(destinations=idle) if idle else {}
                except Exception:  # the database may be briefly away; keep the worker alive
                    log.exception("outbox round failed")
                    claimed = {}
                for name, ids in claimed.items():
                    lanes[name].give(ids)
                if not claimed:
                    wake.wait(idle_sleep)
                    wake.clear()
        finally:
            for lane in lanes.values():
                lane.join()

    def close(self) -> None:
        self._closing.set()
        for adapter in self.adapters.values():
            adapter.close()
        if self.notices is not None:
            self.notices.close()


class _Lane:
    """One destination's share of a running worker: a thread delivering its batches one
    call at a time. A hanging back-end holds only its own lane."""

    def __init__(
        self, outbox: Outbox, destination: str, stop: threading.Event, wake: threading.Event
    ) -> None:
        self.outbox = outbox
        self.stop = stop
        self.wake = wake
        self.batches: queue.Queue[list[int] | None] = queue.Queue(maxsize=1)
        self.busy = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"open311-lane-{destination}", daemon=True
        )
        self.thread.start()

    def idle(self) -> bool:
        return not self.busy.is_set()

    def give(self, ids: list[int]) -> None:
        self.busy.set()
        self.batches.put(ids)

    def _run(self) -> None:
        while True:
            ids = self.batches.get()
            if ids is None:
                return
            try:
                self.outbox.deliver_batch(ids, self.stop)
            except Exception:  # the database may be away longer than retried; rows' leases run out
                log.exception("delivery batch failed")
            finally:
                self.busy.clear()
                self.wake.set()

    def join(self) -> None:
        self.batches.put(None)
        self.thread.join()
