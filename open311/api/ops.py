"""Endpoints for the people and machines that run the gateway: `/healthz` (the process
answers), `/readyz` (the database answers; the destinations' state) and `/metrics`
(Prometheus). Never rate-limited, never cached, always JSON (or Prometheus text).

Volumes per destination are operators' business (a destination that only takes private
services would show how many private reports there are), so the destinations of `/readyz`
and all of `/metrics` answer only an operator: a direct connection from this host (no
proxy in between), or anyone presenting an admin key.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from schemas.admin import DestinationStatusOutSchema

from ..db import database_unavailable, utcnow
from ..errors import DATABASE_RETRY_AFTER, APIError
from ..outbox_status import destination_status
from .params import caller, gateway

bp = Blueprint("ops", __name__)

# A proxy in front adds one of these; a request that carries one did not come from here.
_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def _direct_from_this_host() -> bool:
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
    return loopback and not any(h in request.headers for h in _FORWARDING_HEADERS)


def is_operator() -> bool:
    """A direct loopback connection, or an admin key (api_key, X-API-Key or Bearer)."""
    if _direct_from_this_host():
        return True
    try:
        who = caller()
    except SQLAlchemyError as exc:
        if database_unavailable(exc):
            return False
        raise
    return who is not None and who.role == "admin"


def _answer(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers)
    return response


@bp.get("/healthz")
def healthz() -> Response:
    """200 while the process can answer at all; reads nothing."""
    return _answer({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """200 when the database answers, 503 (with Retry-After) when it does not. A paused
    destination does not make the gateway unready: reports are still accepted and wait in
    the outbox."""
    now = utcnow()
    detail = is_operator()
    site = gateway()
    try:
        with site.db.read() as session:
            session.execute(text("SELECT 1"))
            states = destination_status(session, site.catalog.agencies, now) if detail else []
    except SQLAlchemyError as exc:
        if not database_unavailable(exc):
            raise
        return _answer(
            {"status": "unavailable", "database": "unreachable"},
            503,
            **{"Retry-After": str(DATABASE_RETRY_AFTER)},
        )
    body: dict[str, Any] = {"status": "ready", "database": "ok"}
    if detail:
        body["destinations"] = DestinationStatusOutSchema(many=True).dump(states)
    return _answer(body)


@bp.get("/metrics")
def metrics() -> Response:
    if not is_operator():
        raise APIError(
            403, "Metrics are for operators: connect from this host or use an admin key."
        )
    from ..metrics import exposition

    body, media_type = exposition(gateway())
    response = Response(body, mimetype=None, content_type=media_type)
    response.headers["Cache-Control"] = "no-store"
    return response
