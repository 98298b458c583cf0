"""The inbox's staff API: an agency that keeps its queue in the gateway lists its open
reports (private ones and the reporter's contact included), claims one, and sets its
status with notes; the change flows into the public record like any back-end's.

Every answer that shows a private report or personal fields is written to the audit log.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from schemas.staff import StaffQuerySchema, StaffReportSchema, StatusChangeSchema

from ..audit import record_reads
from ..db import utcnow
from ..errors import APIError
from ..keys import Caller
from ..models import Delivery, ServiceRequest
from ..render import render
from ..updates import Change, record_change
from .params import caller, gateway, items, load

bp = Blueprint("staff", __name__)


def _staff() -> Caller:
    who = caller()
    if who is None or who.role not in ("staff", "admin"):
        raise APIError(403, "A staff or admin api_key is required.")
    return who


def _agency(who: Caller, asked: str | None) -> str:
    if who.role == "staff":
        if asked and asked != who.agency:
            raise APIError(403, "This key works for another agency.")
        assert who.agency is not None
        return who.agency
    if not asked:
        raise APIError(400, "An admin key names the agency: agency=ID.")
    if asked not in gateway().catalog.agencies:
        raise APIError(404, "Unknown agency.")
    return asked


def _reports(rows: list[ServiceRequest], agency: str) -> list[dict[str, Any]]:
    for row in rows:
        mine = next((d for d in row.deliveries if d.destination == agency), None)
        row.claimed_by = mine.claimed_by if mine else None
        row.history = []
    return StaffReportSchema(many=True).dump(rows)


def _audit(who: Caller, rows: list[ServiceRequest], action: str) -> None:
    sensitive = [r.public_id for r in rows if r.private or r.contact is not None]
    if sensitive:
        with gateway().db.write() as session, session.begin():
            record_reads(session, who, action, [s for s in sensitive if s])


@bp.get("/staff/requests.<any(json, xml):fmt>")
def list_reports(fmt: str) -> Response:
    who = _staff()
    params = load(StaffQuerySchema(), dict(items()))
    agency = _agency(who, params.get("agency"))
    stmt = (
        select(ServiceRequest)
        .where(ServiceRequest.deliveries.any(Delivery.destination == agency))
        .options(selectinload(ServiceRequest.contact), selectinload(ServiceRequest.deliveries))
        .order_by(ServiceRequest.requested_datetime.desc(), ServiceRequest.id.desc())
        .limit(params["limit"])
    )
    if params["status"] != "all":
        stmt = stmt.where(ServiceRequest.status == params["status"])
    with gateway().db.read() as session:
        rows = list(session.scalars(stmt))
        body = _reports(rows, agency)
    _audit(who, rows, "staff.list")
    return render(body, "reports", fmt)


def _owned(session: Any, who: Caller, public_id: str) -> tuple[ServiceRequest, Delivery, str]:
    agency_param = request.args.get("agency") or (
        request.form.get("agency") if request.form else None
    )
    agency = _agency(
        who, agency_param or (None if who.role == "staff" else _only_agency(session, public_id))
    )
    row = session.scalar(
        select(ServiceRequest)
        .where(ServiceRequest.public_id == public_id)
        .options(selectinload(ServiceRequest.contact), selectinload(ServiceRequest.deliveries))
    )
    delivery = next((d for d in row.deliveries if d.destination == agency), None) if row else None
    if row is None or delivery is None:
        # The same answer for "no such report" and "not yours": ids reveal nothing.
        raise APIError(404, "No report with that id for this agency.")
    return row, delivery, agency


def _only_agency(session: Any, public_id: str) -> str | None:
    return session.scalar(
        select(Delivery.destination)
        .join(ServiceRequest, ServiceRequest.id == Delivery.request_id)
        .where(ServiceRequest.public_id == public_id, Delivery.primary.is_(True))
    )


@bp.post("/staff/requests/<path:public_id>/claim.<any(json, xml):fmt>")
def claim(public_id: str, fmt: str) -> Response:
    who = _staff()
    with gateway().db.write() as session, session.begin():
        row, delivery, agency = _owned(session, who, public_id)
        if delivery.claimed_by and delivery.claimed_by != who.name:
            raise APIError(409, f"Already claimed by {delivery.claimed_by}.", code=409)
        delivery.claimed_by, delivery.claimed_at = who.name, utcnow()
        body = _reports([row], agency)
        record_reads(session, who, "staff.claim", [public_id])
    return render(body, "reports", fmt)


@bp.post("/staff/requests/<path:public_id>/status.<any(json, xml):fmt>")
def set_status(public_id: str, fmt: str) -> Response:
    who = _staff()
    payload = request.get_json(silent=True) if request.is_json else dict(items())
    data = load(StatusChangeSchema(), payload or {})
    gw = gateway()
    with gw.db.write() as session, session.begin():
        row, delivery, agency = _owned(session, who, public_id)
        if not delivery.primary:
            raise APIError(409, "This agency received a copy; the primary agency sets the status.")
        change = Change(
            status=data["status"],
            updated_datetime=utcnow(),
            detailed_status=data.get("detailed_status"),
            status_notes=data.get("status_notes"),
            agency_responsible=gw.catalog.agencies[agency].name,
            expected_datetime=data.get("expected_datetime"),
        )
        record_change(session, row, change, source=agency)
        body = _reports([row], agency)
        record_reads(session, who, "staff.status", [public_id], detail=data["status"])
    return render(body, "reports", fmt)
