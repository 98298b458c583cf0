"""Staff API and inbound webhook: input and output schemas. These views carry personal
fields, so they are only ever used behind a staff or admin key (and audited)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from .datetimes import EARLIEST, LATEST
from .fields import Text, W3CDateTime
from .output import ExtendedRequestSchema, RequestSchema
from .personal import PERSONAL_FIELDS

STATUSES = ("open", "closed")


class StaffQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=validate.OneOf((*STATUSES, "all")), load_default="open")
    agency = fields.String()  # admin keys choose; staff keys are bound to theirs
    limit = fields.Integer(validate=validate.Range(min=1, max=1000), load_default=200)


class StatusChangeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    detailed_status = Text(validate=validate.Length(max=64), allow_none=True)
    status_notes = Text(validate=validate.Length(max=4000), allow_none=True)
    internal_note = Text(validate=validate.Length(max=4000), allow_none=True)
    expected_datetime = W3CDateTime(allow_none=True)


class ContactOutSchema(Schema):
    class Meta:
        include = {name: fields.String(allow_none=True) for name in PERSONAL_FIELDS}  # noqa: RUF012


def _own_delivery(request: Any, agency: str | None) -> Any:
    """The report's delivery to `agency` (open311/models.py `delivery_to`), or None."""
    return request.delivery_to(agency) if agency else None


class StaffReportSchema(ExtendedRequestSchema):
    """What the owning agency's staff see: the public record, the answers, the reporter.
    `agency`: whose delivery `claimed_by` comes from (none: null)."""

    private = fields.Boolean()
    jurisdiction_id = fields.String()
    reporter = fields.Nested(ContactOutSchema, attribute="contact", allow_none=True)
    claimed_by = fields.Method("_claimed_by")

    def __init__(self, *, agency: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.agency = agency

    def _claimed_by(self, request: Any) -> str | None:
        own = _own_delivery(request, self.agency)
        return own.claimed_by if own else None


class WebhookUpdateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    # Ids are looked up in SQL: no control character (PostgreSQL refuses a NUL even there).
    backend_id = Text(validate=validate.Length(max=200))
    service_request_id = Text(validate=validate.Length(max=64))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    # A back-end's texts are taken whatever their length and cut where every change
    # enters (open311/updates.py `Change`), as a sync's are: refusing would lose the status.
    detailed_status = fields.String(allow_none=True)
    status_notes = Text(allow_none=True, allow_controls=True)
    agency_responsible = fields.String(allow_none=True)
    updated_datetime = W3CDateTime(required=True)
    expected_datetime = W3CDateTime(allow_none=True)
    update_id = Text(allow_none=True, validate=validate.Length(max=200))

    @validates_schema
    def _which(self, data: dict[str, Any], **_: Any) -> None:
        if not (data.get("backend_id") or data.get("service_request_id")):
            raise ValidationError("Give backend_id or service_request_id.", "backend_id")


class WebhookSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    updates = fields.List(
        fields.Nested(WebhookUpdateSchema), required=True, validate=validate.Length(min=1, max=1000)
    )


# --- The staff pages (open311/staff_web/): form input and what the templates receive ---

QUEUE_SORTS = ("newest", "oldest", "updated")
QUEUE_AGES = ("lt1", "1to7", "gt7", "gt30")
PAGE_SIZES = (25, 50, 100)


class SignInSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    email = fields.String(required=True, validate=validate.Length(min=3, max=320))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class QueueFilterSchema(Schema):
    """The queue's filters, sort and page, from the query string."""

    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=validate.OneOf((*STATUSES, "all")), load_default="open")
    service = fields.String(validate=validate.Length(max=100))
    area = fields.String(validate=validate.Length(max=300))
    age = fields.String(validate=validate.OneOf(QUEUE_AGES))
    claimed = fields.String(validate=validate.Length(max=320))
    sort = fields.String(validate=validate.OneOf(QUEUE_SORTS), load_default="newest")
    page = fields.Integer(validate=validate.Range(min=1, max=10000), load_default=1)
    page_size = fields.Integer(validate=validate.OneOf(PAGE_SIZES), load_default=50)


class StatusFormSchema(Schema):
    """Set the status, with a public note, an internal note and an expected date."""

    class Meta:
        unknown = EXCLUDE

    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    public_note = Text(validate=validate.Length(max=4000))
    internal_note = Text(validate=validate.Length(max=4000))
    # The years every date a client sends lies in (schemas/datetimes.py).
    expected_date = fields.Date(validate=validate.Range(min=EARLIEST.date(), max=LATEST.date()))


class AssignFormSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    to = fields.String(validate=validate.Length(max=320))  # absent: back to unclaimed


class BulkFormSchema(Schema):
    """An action on the selected reports: close them with notes, or reassign them."""

    class Meta:
        unknown = EXCLUDE

    ids = fields.List(
        fields.String(validate=validate.Length(max=64)),
        required=True,
        validate=validate.Length(min=1, max=200),
    )
    action = fields.String(required=True, validate=validate.OneOf(("close", "assign")))
    public_note = Text(validate=validate.Length(max=4000))
    internal_note = Text(validate=validate.Length(max=4000))
    to = fields.String(validate=validate.Length(max=320))


class QueueRowSchema(RequestSchema):
    """One line of the queue (and of its CSV export): no personal fields."""

    class Meta:
        # The public record's fields minus the long texts; the agency's own facts below.
        exclude = ("status_notes", "description", "service_notice", "address_id", "media_url")

    private = fields.Boolean()
    # From `agency`'s delivery of the report.
    claimed_by = fields.Method("_claimed_by")
    delivery_state = fields.Method("_delivery_state")
    backend_id = fields.Method("_backend_id")

    def __init__(self, *, agency: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.agency = agency

    def _claimed_by(self, request: Any) -> str | None:
        own = _own_delivery(request, self.agency)
        return own.claimed_by if own else None

    def _delivery_state(self, request: Any) -> str | None:
        own = _own_delivery(request, self.agency)
        return own.state if own else None

    def _backend_id(self, request: Any) -> str | None:
        own = _own_delivery(request, self.agency)
        return own.backend_id if own else None


class DeliveryOutSchema(Schema):
    """What was sent where and what came back, for the read-only view."""

    destination = fields.String()
    primary = fields.Boolean()
    state = fields.String()
    attempts = fields.Integer()
    backend_id = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = W3CDateTime()
    delivered_at = W3CDateTime(allow_none=True)
    claimed_by = fields.String(allow_none=True)


class EventOutSchema(Schema):
    at = W3CDateTime()
    kind = fields.String()
    status = fields.String(allow_none=True)
    text = fields.String(allow_none=True)
    by = fields.String(allow_none=True)
    link = fields.String(allow_none=True)


class StaffPageReportSchema(StaffReportSchema):
    """One report on the staff page: the staff API's view, its deliveries and history
    (`events`: open311/queue.py `history`)."""

    deliveries = fields.List(fields.Nested(DeliveryOutSchema))
    events = fields.Method("_events")

    def __init__(self, *, events: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeline = events

    def _events(self, request: Any) -> list[dict[str, Any]]:
        return EventOutSchema(many=True).dump(self.timeline)
