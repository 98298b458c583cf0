"""Inbound status updates pushed by an agency's back-end, signed with its shared secret."""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import Update
from schemas.staff import WebhookSchema

from ..errors import APIError
from ..models import Delivery, ServiceRequest
from ..render import render
from ..updates import apply_backend_updates
from .params import gateway, load

bp = Blueprint("webhook", __name__)

SIGNATURE_HEADER = "X-Open311-Signature"


def verify(secret: str, body: bytes, presented: str | None) -> bool:
    if not presented:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, presented.strip())


@bp.post("/agencies/<agency_id>/updates.<any(json, xml):fmt>")
def receive(agency_id: str, fmt: str) -> Response:
    gw = gateway()
    agency = gw.catalog.agencies.get(agency_id)
    # Unknown agency, no secret configured and a bad signature all answer alike.
    body = request.get_data(cache=True)
    if (
        agency is None
        or not agency.webhook_secret
        or not verify(agency.webhook_secret, body, request.headers.get(SIGNATURE_HEADER))
    ):
        raise APIError(403, f"Missing or invalid {SIGNATURE_HEADER} for this agency.")
    data = load(WebhookSchema(), request.get_json(silent=True) or {})
    with gw.db.write() as session, session.begin():
        updates = []
        for item in data["updates"]:
            backend_id = item.get("backend_id") or _backend_id_for(
                session, agency_id, item.get("service_request_id")
            )
            if backend_id is None:
                continue
            updates.append(
                Update(
                    backend_id=backend_id,
                    status=item["status"],
                    updated_datetime=item["updated_datetime"],
                    detailed_status=item.get("detailed_status"),
                    status_notes=item.get("status_notes"),
                    agency_responsible=item.get("agency_responsible"),
                    expected_datetime=item.get("expected_datetime"),
                    update_id=item.get("update_id"),
                )
            )
        fresh = apply_backend_updates(session, agency_id, agency.name, updates)
    return render({"received": len(data["updates"]), "applied": fresh}, "result", fmt)


def _backend_id_for(session: Session, agency_id: str, public_id: str | None) -> str | None:
    if not public_id:
        return None
    return session.scalar(
        select(Delivery.backend_id)
        .join(ServiceRequest, ServiceRequest.id == Delivery.request_id)
        .where(ServiceRequest.public_id == public_id, Delivery.destination == agency_id)
    )
