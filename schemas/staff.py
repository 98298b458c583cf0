"""Staff API and inbound webhook: input and output schemas. These views carry personal
fields, so they are only ever used behind a staff or admin key (and audited)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from .fields import W3CDateTime
from .output import ExtendedRequestSchema
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
    detailed_status = fields.String(validate=validate.Length(max=64), allow_none=True)
    status_notes = fields.String(validate=validate.Length(max=4000), allow_none=True)
    expected_datetime = W3CDateTime(allow_none=True)


class ContactOutSchema(Schema):
    class Meta:
        include = {name: fields.String(allow_none=True) for name in PERSONAL_FIELDS}  # noqa: RUF012


class StaffReportSchema(ExtendedRequestSchema):
    """What the owning agency's staff see: the public record, the answers, the reporter."""

    private = fields.Boolean()
    jurisdiction_id = fields.String()
    reporter = fields.Nested(ContactOutSchema, attribute="contact", allow_none=True)
    claimed_by = fields.Method("_claimed_by")

    def _claimed_by(self, request: Any) -> str | None:
        return getattr(request, "claimed_by", None)


class WebhookUpdateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    backend_id = fields.String()
    service_request_id = fields.String()
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    detailed_status = fields.String(allow_none=True, validate=validate.Length(max=64))
    status_notes = fields.String(allow_none=True, validate=validate.Length(max=4000))
    agency_responsible = fields.String(allow_none=True)
    updated_datetime = W3CDateTime(required=True)
    expected_datetime = W3CDateTime(allow_none=True)
    update_id = fields.String(allow_none=True)

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
