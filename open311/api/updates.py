"""GET servicerequestupdates.{fmt}: mySociety's feed of changes, for FixMyStreet-style clients;
POST servicerequestupdates.{fmt}: an update from the app that filed a report."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Blueprint, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from adapters.registry import load_adapter_class
from schemas.output import RequestUpdateSchema, UpdateCreatedSchema
from schemas.requests import MAX_FEED_PAGE, PostUpdateSchema, UpdatesQuerySchema, flat_params

from ..app_updates import IncomingUpdate, KeyReused, NotYours, post_update
from ..db import utcnow
from ..errors import APIError
from ..models import AppUpdate, ServiceRequest
from ..render import render
from ..store import (
    RequestQuery,
    UnknownCursor,
    UpdateQuery,
    find_updates,
    visible,
    widen_for,
)
from .params import (
    caller,
    fingerprint,
    gateway,
    idempotency,
    items,
    jurisdiction,
    load,
    required_caller,
)

bp = Blueprint("updates", __name__)

WINDOW = timedelta(days=90)


@bp.get("/servicerequestupdates.<any(json, xml):fmt>")
def feed(fmt: str) -> Response:
    params = load(UpdatesQuerySchema(), dict(items()))
    j = jurisdiction(params.get("jurisdiction_id"))
    end = params.get("end_date") or utcnow()
    start = params.get("start_date") or end - WINDOW
    # The same view as GET requests: private reports only for the keys that may see them
    # (an entry says only status and public notes, the same whitelist for all).
    viewer = RequestQuery(jurisdiction_id=j.id)
    widen_for(viewer, caller())
    q = UpdateQuery(
        jurisdiction_id=j.id,
        start=start,
        end=end,
        after=params.get("after"),
        limit=params.get("page_size", MAX_FEED_PAGE),
        viewer=viewer,
    )
    with gateway().db.read() as session:
        try:
            rows = find_updates(session, q)
        except UnknownCursor as exc:
            raise APIError(
                400, "Unknown after: give the update_id of an entry of this feed."
            ) from exc
        public_ids = {update.request_id: public_id for update, public_id in rows}
        body = RequestUpdateSchema(many=True, public_ids=public_ids).dump(
            [update for update, _ in rows]
        )
    return render(body, "service_request_updates", fmt)


@bp.post("/servicerequestupdates.<any(json, xml):fmt>")
def post(fmt: str) -> Response:
    """mySociety's POST of an update by the app that filed the report (FixMyStreet's
    Open311 client sends a comment on every update a resident makes)."""
    who = required_caller("post an update", "post_service_request_update")
    pairs = items()
    data = load(PostUpdateSchema(), flat_params(pairs))
    given_jurisdiction = data.get("jurisdiction_id")
    if given_jurisdiction:
        jurisdiction(given_jurisdiction)
    retry = idempotency(pairs)
    client_id = data.get("update_id") or data.get("update_id_ext")
    if client_id:
        client_key = f"update_id:{client_id}"
    elif retry is not None:
        client_key = f"idempotency:{retry[0]}"
    else:
        # Nothing to recognise a retry by: every POST is a new update.
        client_key = f"once:{secrets.token_hex(12)}"
    media = data.get("media_url") or []
    given = IncomingUpdate(
        client_key=client_key,
        fingerprint=fingerprint(pairs),
        status=data.get("status"),
        description=data.get("description"),
        media_url=media[0] if media else None,
    )
    q = RequestQuery(jurisdiction_id="")
    widen_for(q, who)
    gw = gateway()
    try:
        with gw.db.write() as session, session.begin():
            row = session.scalar(
                select(ServiceRequest).where(
                    ServiceRequest.public_id == data["service_request_id"], visible(q)
                )
            )
            if row is None or (given_jurisdiction and row.jurisdiction_id != given_jurisdiction):
                raise APIError(404, "No service request with that service_request_id.")
            update = post_update(session, gw.catalog, who, row, given, _accepts_updates)
            body = UpdateCreatedSchema().dump(update)
    except NotYours as exc:
        raise APIError(
            403, "Only the app that sent the report, or its agency's staff, may post updates."
        ) from exc
    except KeyReused as exc:
        raise APIError(
            422,
            "This update_id (or Idempotency-Key) was used for a different update; "
            "send a new one with a new update.",
        ) from exc
    except IntegrityError:
        # The same update raced in on another connection and won: answer as it did.
        with gw.db.read() as session:
            seen = session.scalar(
                select(AppUpdate).where(
                    AppUpdate.api_key_id == who.key_id, AppUpdate.client_key == client_key
                )
            )
            if seen is None:
                raise
            body = UpdateCreatedSchema().dump(seen)
    return render([body], "service_request_updates", fmt)


def _accepts_updates(agency_id: str) -> bool:
    agency = gateway().catalog.agencies.get(agency_id)
    return agency is not None and load_adapter_class(agency.adapter).accepts_updates
