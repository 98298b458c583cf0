"""POST requests.{fmt}, GET requests.{fmt}, GET requests/{id}.{fmt}, GET tokens/{token}.{fmt}."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError

from schemas.attributes import attribute_schema, prepare
from schemas.errors import parameter_lines
from schemas.output import (
    CreatedSchema,
    ExtendedRequestSchema,
    RequestSchema,
    TokenSchema,
    followed_private_schema,
)
from schemas.personal import PERSONAL_FIELDS
from schemas.requests import (
    DEFAULT_RADIUS_M,
    CreateRequestSchema,
    RequestQuerySchema,
    flat_params,
    split_attributes,
)
from schemas.staff import StaffReportSchema

from ..audit import record_reads
from ..contact import ContactInvalid, ContactRequired, checked_contact, personal_fields_to_keep
from ..errors import APIError
from ..keys import Caller
from ..models import ServiceRequest
from ..notifications import language_of, requested_channels
from ..render import answer, assemble, render
from ..routing import OutsideServiceArea
from ..store import (
    MAX_RESULTS,
    Created,
    NewReport,
    RequestQuery,
    accept,
    find_public_answers,
    find_requests,
    find_submission,
    get_by_token,
    get_public_answer,
    get_request,
    history_for,
    token_resolved,
    widen_for,
)
from .media import photo_url, photos_from_request
from .params import (
    caller,
    gateway,
    idempotency,
    items,
    jurisdiction,
    load,
    load_query,
    required_caller,
)

bp = Blueprint("requests", __name__)
# Built once: a schema costs more to build than to load one report or query with.
_CREATE = CreateRequestSchema()
_QUERY = RequestQuerySchema()
_ONE_QUERY = RequestQuerySchema(only=("jurisdiction_id", "extensions"))
_TOKEN_QUERY = RequestQuerySchema(only=("jurisdiction_id",))


@bp.post("/requests.<any(json, xml):fmt>")
def create(fmt: str) -> Response:
    who = required_caller("create a service request", "create_request")
    pairs = items()
    retry_key = idempotency(pairs)
    data = load(_CREATE, flat_params(pairs))
    try:
        data = checked_contact(data, gateway().catalog.gateway.phone_region)
    except ContactInvalid as exc:
        raise APIError(400, str(exc)) from exc
    if retry_key is not None and (replayed := _replay(who, retry_key, data, fmt)) is not None:
        return replayed
    j = jurisdiction(data.get("jurisdiction_id"), data.get("lat"), data.get("long"))
    gw = gateway()
    service = gw.catalog.service(j.id, data["service_code"])
    if service is None:
        raise APIError(404, f"Unknown service_code in {j.id}. See services.{fmt}.")
    raw_attributes = prepare(service.attributes, split_attributes(pairs))
    try:
        attribute_schema(service.attributes).load(raw_attributes)
    except ValidationError as exc:
        raise APIError(400, parameter_lines(exc.messages)) from exc
    try:
        contact = personal_fields_to_keep(service, data)
    except ContactRequired as exc:
        raise APIError(400, str(exc)) from exc
    try:
        destinations = gw.router.route(service, data.get("lat"), data.get("long"), raw_attributes)
    except OutsideServiceArea as exc:
        raise APIError(400, str(exc)) from exc
    photos = photos_from_request()
    if photos:
        data["media_url"] = [*data.get("media_url", []), *map(photo_url, photos)]
    report = NewReport(
        service=service,
        prefix=gw.catalog.jurisdictions[j.id].id_prefix,
        fields=data,
        attributes=raw_attributes,
        contact=contact,
        destinations=destinations,
        agency_responsible=next(
            (gw.catalog.agencies[d.agency].name for d in destinations if d.primary), None
        ),
        api_key_id=who.key_id,
        idempotency=retry_key,
        notify=requested_channels(data, contact, gw.catalog.notifications, service),
        language=language_of(data.get("language")),
        photos=photos,
    )
    try:
        row = accept(gw.db, report)
    except IntegrityError:
        # The same Idempotency-Key raced in on another connection and won: answer as it did.
        replayed = _replay(who, retry_key, data, fmt) if retry_key is not None else None
        if replayed is None:
            raise
        return replayed
    answer = _created(row, service.type, contact.get("account_id"))
    return render([answer], "service_requests", fmt)


def _created(
    row: Created | ServiceRequest, kind: str | None, account_id: str | None
) -> dict[str, Any]:
    """The POST answer from the stored report (`kind`: its service's type), so that a replay
    answers the same even once the service has left the configuration."""
    answer: dict[str, Any] = {"service_notice": row.service_notice, "account_id": account_id}
    if kind == "realtime":
        answer = {"service_request_id": row.public_id, **answer}
    elif kind == "batch":
        answer = {"token": row.token, **answer}
    return _CREATED.dump(answer)


_CREATED = CreatedSchema()


def _replay(
    who: Caller, idempotency: tuple[str, str], data: dict[str, Any], fmt: str
) -> Response | None:
    """The first answer again for a repeated key, without its personal fields; 422 if the
    key came with other data.

    An app key is shared by every user of the app, so a replay cannot tell the submitter
    retrying from another user who sent the same key: it never answers the first
    submitter's account_id. And while the first report's contact is kept, a replay whose
    personal fields differ from it is another person's report, not a retry: 422, so that it
    is not silently taken for the first (the fingerprint leaves personal fields out, see
    params.fingerprint)."""
    key, fingerprint = idempotency
    with gateway().db.read() as session:
        seen = find_submission(session, who.key_id, key)
        if seen is None:
            return None
        row = seen.request
        if seen.fingerprint != fingerprint or not _same_reporter(row, data):
            raise APIError(
                422,
                "This Idempotency-Key was used for a different request; "
                "send a new key with a new report.",
            )
        # The type the report came in with; reports from before it was kept (0005) take
        # the service's, and one whose service is gone then answers with neither id nor token.
        kind = row.service_type
        if kind is None:
            service = gateway().catalog.service(row.jurisdiction_id, row.service_code)
            kind = service.type if service is not None else None
        body = _created(row, kind, None)
    return render([body], "service_requests", fmt)


def _same_reporter(row: ServiceRequest, data: dict[str, Any]) -> bool:
    """Whether `data` carries the personal fields stored with `row` (True when none were
    kept: an anonymous service, or the contact already purged; nothing tells them apart)."""
    if row.contact is None:
        return True
    stored = {k: v for k, v in asdict(row.contact.as_contact()).items() if v}
    return stored == {f: data[f] for f in PERSONAL_FIELDS if data.get(f)}


def _dump(
    rows: list[Any], extensions: bool, session: Any, who: Caller | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The answer, and the ids a staff caller was shown privately (for the audit log)."""
    history = history_for(session, rows) if extensions else {}
    public_schema = ExtendedRequestSchema(history=history) if extensions else RequestSchema()
    if who is None:
        return public_schema.dump(rows, many=True), []
    body, audited = [], []
    for row in rows:
        own = who.role == "admin" or (
            who.role == "staff" and any(d.destination == who.agency for d in row.deliveries)
        )
        if row.private and not own:
            # The key that filed it: an app key serves all its users, so it learns how the
            # report is going and nothing the report says.
            body.append(followed_private_schema(extensions, history).dump(row))
        elif own and extensions:
            # The owning agency's staff, asking for extensions, see the reporter too (and
            # no claim: that is the staff API's).
            body.append(StaffReportSchema(history=history).dump(row))
        else:
            body.append(public_schema.dump(row))
        if own and (row.private or (extensions and row.contact is not None)):
            audited.append(row.public_id)
    return body, audited


def _audit(who: Caller | None, ids: list[str], action: str) -> None:
    if who is not None and ids:
        with gateway().db.write() as session, session.begin():
            record_reads(session, who, action, ids)


@bp.get("/requests.<any(json, xml):fmt>")
def query(fmt: str) -> Response:
    params = load(_QUERY, dict(items()))
    q = listing_query(params)
    who = _apply_caller(q)
    if _public_view(who, params):
        with gateway().db.one_statement() as conn:
            pieces = find_public_answers(conn, q, fmt)
        if pieces is not None:
            return answer(assemble(pieces, "service_requests", fmt), fmt)
    with gateway().db.read() as session:
        rows = find_requests(session, q)
        body, audited = _dump(rows, params.get("extensions", False), session, who)
    _audit(who, audited, "georeport.requests")
    return render(body, "service_requests", fmt)


def listing_query(params: dict[str, Any], *, paged: bool = True) -> RequestQuery:
    """The listing GET requests' loaded parameters ask for (404 for an unknown
    jurisdiction or service_code), without the caller's widening. Not `paged` (the
    exports): every match unless page or page_size is given."""
    j = jurisdiction(params.get("jurisdiction_id"))
    q = RequestQuery(
        jurisdiction_id=j.id,
        service_request_ids=params.get("service_request_id", []),
        service_codes=params.get("service_code", []),
        statuses=params.get("status", []),
        start=params.get("start_date"),
        end=params.get("end_date"),
        updated_after=params.get("updated_after"),
        updated_before=params.get("updated_before"),
        page=params.get("page", 1),
        page_size=params.get("page_size", MAX_RESULTS),
        near=_near(params),
        bbox=params.get("bbox"),
        agency_responsible=_agency_name(params.get("agency_responsible")),
        sort=params.get("sort", "-requested_datetime"),
    )
    if not paged and "page" not in params and "page_size" not in params:
        q.page_size = None
    if q.service_codes and not q.service_request_ids:
        unknown = [c for c in q.service_codes if gateway().catalog.service(j.id, c) is None]
        if unknown:
            # A typo must not silently answer "nothing" (or everything).
            raise APIError(404, f"Unknown service_code {', '.join(unknown)} in {j.id}.")
    return q


def _public_view(who: Caller | None, params: dict[str, Any]) -> bool:
    """True when the caller gets the public whitelist of each public report it may list,
    and nothing to audit: the stored answers serve it (fragments.py). A submit key's own
    private reports are shown reduced, so a page holding one is answered row by row."""
    return not params.get("extensions") and (who is None or who.role == "submit")


def _near(params: dict[str, Any]) -> tuple[float, float, float] | None:
    if "lat" not in params:
        return None
    return params["lat"], params["long"], params.get("radius", DEFAULT_RADIUS_M)


def _agency_name(given: str | None) -> str | None:
    """Reports carry the agency's display name (as the spec's examples do); an agency id
    from the configuration is accepted too and stands for that name."""
    if given is None:
        return None
    agency = gateway().catalog.agencies.get(given)
    return agency.name if agency is not None else given


def _apply_caller(q: RequestQuery) -> Caller | None:
    who = caller()
    widen_for(q, who)
    return who


@bp.get("/requests/<path:service_request_id>.<any(json, xml):fmt>")
def one(service_request_id: str, fmt: str) -> Response:
    params = load_query(_ONE_QUERY)
    given = params.get("jurisdiction_id")
    if given:
        jurisdiction(given)
    q = RequestQuery(jurisdiction_id="")
    who = _apply_caller(q)
    if who is None and not params.get("extensions"):
        with gateway().db.one_statement() as conn:
            piece = get_public_answer(conn, service_request_id, fmt, jurisdiction_id=given)
        if piece is None:
            raise APIError(404, "No service request with that service_request_id.")
        return answer(assemble([piece], "service_requests", fmt), fmt)
    with gateway().db.read() as session:
        row = get_request(
            session,
            service_request_id,
            include_private=q.include_private,
            private_agency=q.private_agency,
            own_key_id=q.own_key_id,
        )
        if row is None or (given and row.jurisdiction_id != given):
            raise APIError(404, "No service request with that service_request_id.")
        body, audited = _dump([row], params.get("extensions", False), session, who)
    _audit(who, audited, "georeport.request")
    return render(body, "service_requests", fmt)


@bp.get("/tokens/<path:token>.<any(json, xml):fmt>")
def token(token: str, fmt: str) -> Response:
    given = load_query(_TOKEN_QUERY).get("jurisdiction_id")
    if given:
        jurisdiction(given)
    with gateway().db.read() as session:
        row = get_by_token(session, token)
        if row is None or (given and row.jurisdiction_id != given):
            raise APIError(404, "Unknown token.")
        resolved = row.public_id if token_resolved(row) else None
    # Pending: 200 with the token and an empty id, so clients poll (Chicago, node-open311).
    return render(
        [TokenSchema().dump({"service_request_id": resolved, "token": token})],
        "service_requests",
        fmt,
    )
