"""Output schemas for operators and staff: the outbox listing, staff views, the audit log."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from .fields import W3CDateTime


class DeliveryOutSchema(Schema):
    id = fields.Integer()
    request_id = fields.Method("_request_id")
    destination = fields.String()
    primary = fields.Boolean()
    state = fields.String()
    attempts = fields.Integer()
    next_attempt_at = W3CDateTime()
    last_error = fields.String(allow_none=True)
    backend_id = fields.String(allow_none=True)
    backend_token = fields.String(allow_none=True)
    delivered_at = W3CDateTime(allow_none=True)

    def _request_id(self, delivery: Any) -> str | None:
        return delivery.request.public_id


class AuditOutSchema(Schema):
    at = W3CDateTime()
    key_name = fields.String()
    agency = fields.String(allow_none=True)
    action = fields.String()
    request_id = fields.String(attribute="request_public_id", allow_none=True)
    detail = fields.String(allow_none=True)


class DestinationStatusOutSchema(Schema):
    """One destination's outbox state (`open311 outbox status --json`, `/readyz`)."""

    destination = fields.String()
    depth = fields.Integer()
    due = fields.Integer()
    inflight = fields.Integer()
    dead = fields.Integer()
    oldest_due_age_seconds = fields.Function(
        lambda s: None if s.oldest_due_age is None else int(s.oldest_due_age)
    )
    paused_until = W3CDateTime(allow_none=True)
    consecutive_failures = fields.Integer()
    last_error = fields.String(allow_none=True)
    synced_until = W3CDateTime(allow_none=True)
