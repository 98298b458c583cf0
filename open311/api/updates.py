"""GET servicerequestupdates.{fmt}: mySociety's feed of changes, for FixMyStreet-style clients."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response
from sqlalchemy import select

from schemas.output import RequestUpdateSchema
from schemas.requests import UpdatesQuerySchema

from ..db import utcnow
from ..models import RequestUpdate, ServiceRequest
from ..render import render
from ..store import listed
from .params import gateway, items, jurisdiction, load

bp = Blueprint("updates", __name__)

WINDOW = timedelta(days=90)
LIMIT = 1000


@bp.get("/servicerequestupdates.<any(json, xml):fmt>")
def feed(fmt: str) -> Response:
    params = load(UpdatesQuerySchema(), dict(items()))
    j = jurisdiction(params.get("jurisdiction_id"))
    end = params.get("end_date") or utcnow()
    start = params.get("start_date") or end - WINDOW
    stmt = (
        select(RequestUpdate, ServiceRequest.public_id)
        .join(ServiceRequest, ServiceRequest.id == RequestUpdate.request_id)
        .where(
            ServiceRequest.jurisdiction_id == j.id,
            listed(),
            RequestUpdate.updated_datetime >= start,
            RequestUpdate.updated_datetime <= end,
        )
        # Oldest first, so a client can resume from the last update it saw.
        .order_by(RequestUpdate.updated_datetime, RequestUpdate.id)
        .limit(LIMIT)
    )
    with gateway().db.read() as session:
        rows = []
        for update, public_id in session.execute(stmt):
            update.service_request_id = public_id
            update.media_url = None  # updates carry no media of their own here
            rows.append(update)
        body = RequestUpdateSchema(many=True).dump(rows)
    return render(body, "service_request_updates", fmt)
