"""The inbox's staff API: an agency that keeps its queue in the gateway lists its open
reports (private ones and the reporter's contact included), claims one, and sets its
status with notes; the change flows into the public record like any back-end's.

Every answer that shows a private report or personal fields is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from schemas.staff import StaffQuerySchema, StaffReportSchema, StatusChangeSchema

from .. import queue
from ..audit import record_reads
from ..db import utcnow
from ..errors import APIError
from ..keys import Caller
from ..models import Delivery, ServiceRequest
from ..render import render
from .params import caller, gateway, items, load

bp = Blueprint("staff", __name__)


def _staff() -> Caller:
    who = caller()
    if who is None or who.role not in ("staff", "admin"):
        raise APIError(403, "A staff or admin api_key is required.")
    return who


def _agency(who: Caller, asked: str | None) -> str:
    if who.role == "staff":
        # A staff key without an agency cannot be made (keys.create_key); refused all the same.
        if who.agency is None or (asked and asked != who.agency):
            raise APIError(403, "This key works for another agency.")
        return who.agency
    if not asked:
        raise APIError(400, "An admin key names the agency: agency=ID.")
    if asked not in gateway().catalog.agencies:
        raise APIError(404, "Unknown agency.")
    return asked


def _reports(rows: list[ServiceRequest], agency: str) -> list[dict[str, Any]]:
    return StaffReportSchema(many=True, agency=agency).dump(rows)


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
    # The reports the staff pages list for the same agency and status, newest first.
    asked = queue.QueueQuery(agency=agency, status=params["status"])
    stmt = (
        queue.agency_reports(asked, utcnow())
        .options(selectinload(ServiceRequest.contact), selectinload(ServiceRequest.deliveries))
        .order_by(*queue.SORTS["newest"])
        .limit(params["limit"])
    )
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
    # The same answer for "no such report" and "not yours": ids reveal nothing.
    with _refusals():
        row, delivery = queue.owned(session, agency, public_id)
    return row, delivery, agency


@contextmanager
def _refusals() -> Iterator[None]:
    """The queue's refusals as Open311 errors."""
    try:
        yield
    except queue.QueueError as exc:
        raise APIError(exc.status, str(exc), code=exc.status) from exc


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
        with _refusals():
            queue.claim(delivery, who)
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
        change = queue.StatusChange(
            status=data["status"],
            public_note=data.get("status_notes"),
            internal_note=data.get("internal_note"),
            detailed_status=data.get("detailed_status"),
            expected_datetime=data.get("expected_datetime"),
        )
        with _refusals():
            queue.set_status(session, gw.catalog, who, row, delivery, change)
        body = _reports([row], agency)
        record_reads(session, who, "staff.status", [public_id], detail=data["status"])
    return render(body, "reports", fmt)
