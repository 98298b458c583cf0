"""GET servicerequestupdates.{fmt}: mySociety's feed of changes, for FixMyStreet-style clients."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response

from schemas.output import RequestUpdateSchema
from schemas.requests import MAX_FEED_PAGE, UpdatesQuerySchema

from ..db import utcnow
from ..errors import APIError
from ..render import render
from ..store import RequestQuery, UnknownCursor, UpdateQuery, find_updates, widen_for
from .params import caller, gateway, items, jurisdiction, load

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
