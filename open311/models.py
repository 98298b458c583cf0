"""The tables. Personal data lives in its own table so it can be withheld, purged and
audited apart from the public record."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    literal,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from schemas.personal import MAX_LENGTH, PERSONAL_FIELDS, Contact

from .db import Base, UTCDateTime, utcnow

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class ServiceRequest(Base):
    __tablename__ = "service_request"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    token: Mapped[str | None] = mapped_column(String(64), unique=True)
    jurisdiction_id: Mapped[str] = mapped_column(String(200))
    service_code: Mapped[str] = mapped_column(String(100))
    service_name: Mapped[str] = mapped_column(String(200))
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="open")
    detailed_status: Mapped[str | None] = mapped_column(String(64))
    status_notes: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    agency_responsible: Mapped[str | None] = mapped_column(String(200))
    service_notice: Mapped[str | None] = mapped_column(Text)
    requested_datetime: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_datetime: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expected_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(Text)
    address_id: Mapped[str | None] = mapped_column(String(200))
    zipcode: Mapped[str | None] = mapped_column(String(20))
    lat: Mapped[float | None]
    long: Mapped[float | None]
    media_url: Mapped[str | None] = mapped_column(Text)
    media_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    # The service's type when the report came in (realtime|batch|blackbox): it decides how
    # the report is listed, and the configuration may change later. None: before 0004.
    service_type: Mapped[str | None] = mapped_column(String(16))
    # `open311 import`: where a row came from ("<source>:<id>"), so a re-run adds it once.
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # The public answer, rendered on every ORM write (open311/fragments.py); NULL = render
    # when read. Never served to anyone a report is hidden from: visibility is the query's.
    public_json: Mapped[str | None] = mapped_column(Text, deferred=True)
    public_xml: Mapped[str | None] = mapped_column(Text, deferred=True)

    contact: Mapped[ReporterContact | None] = relationship(
        back_populates="request", cascade="all, delete-orphan", uselist=False
    )
    # The report's own deliveries; an app's update and a message to the reporter travel in
    # outbox rows of their own (app_update_id, request_update_id set), which are not.
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="request",
        cascade="all, delete-orphan",
        order_by="Delivery.id",
        primaryjoin="and_(ServiceRequest.id == Delivery.request_id, "
        "Delivery.app_update_id.is_(None), Delivery.request_update_id.is_(None))",
    )

    def delivery_to(self, agency: str | None) -> Delivery | None:
        """This agency's delivery of the report, if it is one of its destinations."""
        return next((d for d in self.deliveries if d.destination == agency), None)

    __table_args__ = (
        # Each listing index ends in the sort column, then the id (the order's tie-break:
        # without it PostgreSQL reads the whole window to sort it), then the columns a
        # filter checks, so that a filter matching few rows is checked in the index and
        # only the rows it keeps are read from the table, which the stored answers make
        # wide (revision 0010; the bench's radius and sparse queries at 1,000,000).
        Index(
            "ix_request_public_listing",
            "jurisdiction_id",
            "private",
            "requested_datetime",
            "id",
            "status",
            "lat",
            "long",
        ),
        Index("ix_request_updated", "updated_datetime"),
        Index(
            "ix_request_agency_listing",
            "jurisdiction_id",
            "private",
            "agency_responsible",
            "requested_datetime",
            "id",
        ),
        Index(
            "ix_request_service_listing",
            "jurisdiction_id",
            "private",
            "service_code",
            "requested_datetime",
            "id",
            "status",
        ),
        # A service and a status together (the sparse filter: open hydrant reports of
        # years ago) read only their matches here; through ix_request_service_listing
        # they read the service's every report in the window, mostly closed (revision
        # 0012: the bench's sparse filter cut to 13 rows had 2.3 times its p95 at 10,000).
        Index(
            "ix_request_service_status_listing",
            "jurisdiction_id",
            "private",
            "service_code",
            "status",
            "requested_datetime",
            "id",
        ),
        Index("ix_request_updated_listing", "jurisdiction_id", "private", "updated_datetime", "id"),
    )


class IdCounter(Base):
    """The last public id handed out per id prefix. Public reports count on their own so
    that the numbers have no gaps that would reveal how many private reports came in."""

    __tablename__ = "id_counter"

    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ReporterContact(Base):
    __tablename__ = "reporter_contact"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), primary_key=True
    )
    # One column per personal field, added below from their one definition.

    # Updates for the reporter (open311/notifications.py): the channels asked for when the
    # report was made, turned off by the stop link; the page's language for the messages.
    # Kept with the contact, so the retention purge that erases it ends the messages too.
    notify_email: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))

    request: Mapped[ServiceRequest] = relationship(back_populates="contact")

    def as_contact(self) -> Contact:
        return Contact(**{name: getattr(self, name) for name in PERSONAL_FIELDS})


for _name in PERSONAL_FIELDS:
    setattr(ReporterContact, _name, mapped_column(String(MAX_LENGTH[_name])))


# A delivery's states before it is done or dead: the outbox's backlog, which a worker claims.
OPEN_STATES = ("pending", "inflight")


class Delivery(Base):
    """The outbox: one row per (report, destination), written with the report."""

    __tablename__ = "delivery"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), index=True
    )
    destination: Mapped[str] = mapped_column(String(100))
    primary: Mapped[bool] = mapped_column(Boolean, default=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|inflight|done|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    backend_id: Mapped[str | None] = mapped_column(String(200))
    backend_token: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For the gateway's own inbox: which staff key took the report on.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when this row carries an app's update to the agency instead of the report.
    app_update_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_update.id", ondelete="CASCADE")
    )
    # Set when this row carries a message to the reporter about this change (destination
    # "notify/email" or "notify/sms"; open311/notifications.py) instead of the report.
    request_update_id: Mapped[int | None] = mapped_column(
        ForeignKey("request_update.id", ondelete="CASCADE")
    )

    request: Mapped[ServiceRequest] = relationship(back_populates="deliveries")
    app_update: Mapped[AppUpdate | None] = relationship()

    __table_args__ = (
        Index("ix_delivery_due", "state", "next_attempt_at"),
        Index("ix_delivery_backend", "destination", "backend_id"),
    )


class DestinationState(Base):
    """Per-destination circuit breaker, shared by every worker through the database."""

    __tablename__ = "destination_state"

    destination: Mapped[str] = mapped_column(String(100), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    synced_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RequestUpdate(Base):
    """One change to a report's status, kept as history and served as an update feed."""

    __tablename__ = "request_update"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), index=True
    )
    # Identifies the change at its source so overlapping sync windows add it once.
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    # The id the public feed shows: random, so that the ids of public entries say nothing
    # about how many updates private reports had in between (the row id counts them all).
    public_id: Mapped[str] = mapped_column(
        String(32), unique=True, index=True, default=lambda: secrets.token_hex(8)
    )
    source: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    detailed_status: Mapped[str | None] = mapped_column(String(64))
    status_notes: Mapped[str | None] = mapped_column(Text)
    agency_responsible: Mapped[str | None] = mapped_column(String(200))
    updated_datetime: Mapped[datetime] = mapped_column(UTCDateTime)
    expected_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Submission(Base):
    """An app's Idempotency-Key: a POST retried after a lost answer gets the first answer,
    not a second report."""

    __tablename__ = "submission"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[ServiceRequest] = relationship()

    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_submission_key"),)


class AppUpdate(Base):
    """A comment or status sent by the app that filed the report (POST
    servicerequestupdates). Kept for the agency's staff whatever reaches the public record;
    the author's personal fields are not kept (the update needs none to be acted on)."""

    __tablename__ = "app_update"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # random: no pace shown
    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), index=True
    )
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"))
    # The app's own id for the update (update_id) or its Idempotency-Key: sent twice, kept once.
    client_key: Mapped[str] = mapped_column(String(220))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))  # open | closed
    detailed_status: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(Text)
    updated_datetime: Mapped[datetime] = mapped_column(UTCDateTime)
    public_comment: Mapped[bool] = mapped_column(Boolean, default=False)
    public_status: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[ServiceRequest] = relationship()

    __table_args__ = (UniqueConstraint("api_key_id", "client_key", name="uq_app_update_key"),)


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="submit")  # submit|staff|admin
    agency: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Who read private reports or personal fields, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    key_name: Mapped[str] = mapped_column(String(100))
    agency: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    request_public_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class Media(Base):
    """A photo sent as a file with a report: its cleaned copy and reduced copy in the media
    store, and the report it belongs to (whose privacy decides who may fetch it)."""

    __tablename__ = "media"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    small_key: Mapped[str] = mapped_column(String(100), unique=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), index=True
    )
    content_type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[ServiceRequest] = relationship()


class StaffUser(Base):
    """A person at one agency who signs in to the staff pages (machines use api keys)."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    agency: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), default="staff")  # staff|admin
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Consecutive failed sign-ins, and until when the account refuses them (lockout).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffNote(Base):
    """An internal note on a report: for the agency's staff only, never in the public record."""

    __tablename__ = "staff_note"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), index=True
    )
    agency: Mapped[str] = mapped_column(String(100))
    author: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@event.listens_for(ServiceRequest, "before_insert")
@event.listens_for(ServiceRequest, "before_update")
def _render_public_answer(_mapper: Any, _connection: Any, row: ServiceRequest) -> None:
    from .fragments import fill  # rendering lives with the output schemas, not the tables

    fill(row)


# The backlog's partial indexes, each built from the condition the queries that read it
# use, so the two cannot drift apart. The values are written into the SQL, not bound: a
# prepared PostgreSQL statement's generic plan cannot prove a partial index from bound
# values, and SQLite, which plans again for a bound `=`, does not for a bound IN list.


def undelivered() -> ColumnElement[bool]:
    """Deliveries not yet done or dead (pending, in flight)."""
    return Delivery.state.in_([literal(state, literal_execute=True) for state in OPEN_STATES])


def still_open() -> ColumnElement[bool]:
    """Reports whose status is open."""
    return ServiceRequest.status == literal("open", literal_execute=True)


# A worker's claim (outbox.is_due): only the rows not yet delivered, in the order they are
# claimed, so a claim reads the backlog and never the history. Without it SQLite walked a
# destination's every delivery by ix_delivery_backend, holding the write lock: at 1,000,000
# delivered reports a claim took most of a second and POSTs waited behind it (the bench's
# SQLite POST: 56 req/s against 285 at 10,000).
Index(
    "ix_delivery_open",
    Delivery.destination,
    Delivery.next_attempt_at,
    Delivery.id,
    sqlite_where=undelivered(),
    postgresql_where=undelivered(),
)
# An agency's queue (queue.find_queue): a page walks the reports newest first (the open
# ones in an index of their own) and finds each one's delivery to the agency by the first
# index, stopping after the page (revision 0013: 600 ms a page at 1,000,000 reports,
# sorting the agency's whole history, before).
Index("ix_delivery_destination_request", Delivery.destination, Delivery.request_id)
Index("ix_request_requested", ServiceRequest.requested_datetime, ServiceRequest.id)
# The open reports: a few thousand in a city's history of millions. The sync asks the
# back-ends for their status (sync.references: their ids), the queue lists and counts
# them (in time order, by service). Revision 0013 made it of ix_request_open (the ids
# alone), which SQLite, with the two to choose from, took for the queue's count by service.
Index(
    "ix_request_open_requested",
    ServiceRequest.requested_datetime,
    ServiceRequest.id,
    ServiceRequest.service_code,  # the service filter, checked in the index
    # Always 'open' here; without it SQLite does not count the index as covering a query
    # that names the status, and scans a whole covering one instead (the queue's count).
    ServiceRequest.status,
    sqlite_where=still_open(),
    postgresql_where=still_open(),
)
