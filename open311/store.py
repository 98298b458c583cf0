"""Reading and writing reports. Accepting a report and queueing its deliveries happen in
one transaction, so nothing accepted can be lost between the two."""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Float,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.orm import Session, selectinload

from schemas.personal import PERSONAL_FIELDS

from .catalog import Service
from .db import Base, Database, UTCDateTime, insert_ignoring_conflicts, utcnow
from .fragments import public_view, rendered
from .geo import box_around, distance_to
from .keys import Caller
from .models import (
    Delivery,
    IdCounter,
    Media,
    ReporterContact,
    RequestUpdate,
    ServiceRequest,
    Submission,
)
from .photos import StoredPhoto
from .routing import Destination

DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000


@dataclass
class NewReport:
    service: Service
    prefix: str
    fields: dict[str, Any]  # validated, public fields
    attributes: dict[str, Any]
    contact: dict[str, str]  # only the personal fields the contact rule keeps
    destinations: list[Destination]
    agency_responsible: str | None = None  # the primary destination's display name
    api_key_id: int | None = None
    idempotency: tuple[str, str] | None = None  # (Idempotency-Key, request fingerprint)
    # Updates for the reporter, by channel (open311/notifications.py), and their language.
    notify: dict[str, bool] | None = None
    language: str | None = None
    photos: Sequence[StoredPhoto] = ()  # files sent with the report, stored already


@dataclass(frozen=True)
class Created:
    """What the answer to a POST needs of the report just stored."""

    id: int
    public_id: str
    token: str | None
    service_notice: str | None


def accept(db: Database, report: NewReport) -> Created:
    """Stores a new report, all or nothing: the report, its deliveries (the outbox), the
    contact, the Idempotency-Key and the photos. On PostgreSQL that is one statement in
    autocommit, its own transaction: one round trip to the server. On SQLite, a write
    transaction (create_request)."""
    if db.dialect == "postgresql":
        with db.one_statement() as conn:
            return _insert_postgresql(conn, report)
    with db.write() as session, session.begin():
        return create_request(session, report)


def create_request(session: Session, report: NewReport) -> Created:
    """Stores a new report inside the caller's transaction (see accept)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return _insert_postgresql(conn, report)
    service = report.service
    public_id = (
        private_id(report.prefix)
        if service.private
        else f"{report.prefix}{reserve_numbers(conn, report.prefix, 1)}"
    )
    row = _request_row(report, utcnow(), public_id)
    request_id = conn.execute(insert(_REQUEST).returning(_REQUEST.c.id), row).scalar_one()
    deliveries = _delivery_rows(report, request_id, public_id, row)
    for table, rows in [
        (_DELIVERY, deliveries),
        *_dependent_rows(report, request_id, row["requested_datetime"]),
    ]:
        if rows:
            conn.execute(insert(table), rows)
    return Created(request_id, public_id, row["token"], row["service_notice"])


def reported_columns(data: dict[str, Any]) -> dict[str, Any]:
    """The service_request columns of what a reporter said, from CreateRequestSchema's
    fields (a POST, a row of `open311 import`): the address under its column's name, the
    first of the media URLs as the standard's one `media_url`."""
    media = list(data.get("media_url") or [])
    return {
        "description": data.get("description"),
        "address": data.get("address_string"),
        "address_id": data.get("address_id"),
        "zipcode": data.get("zipcode"),
        "lat": data.get("lat"),
        "long": data.get("long"),
        "media_url": media[0] if media else None,
        "media_urls": media,
    }


def _request_row(report: NewReport, now: datetime, public_id: str) -> dict[str, Any]:
    """The service_request row, its public answer rendered from it once (fragments.py)."""
    service = report.service
    data = report.fields
    row: dict[str, Any] = {
        "public_id": public_id,
        "jurisdiction_id": service.jurisdiction,
        "service_code": service.code,
        "service_name": service.name,
        "private": service.private,
        "status": "open",
        "detailed_status": None,
        "status_notes": None,
        "agency_responsible": report.agency_responsible,
        "service_notice": service.service_notice,
        "requested_datetime": now,
        "updated_datetime": now,
        "expected_datetime": None,
        **reported_columns(data),
        "attributes": report.attributes,
        "api_key_id": report.api_key_id,
        "service_type": service.type,
        "token": secrets.token_hex(8) if service.type == "batch" else None,
    }
    row.update(rendered(row))
    return row


def _delivery_rows(
    report: NewReport, request_id: int, public_id: str, row: dict[str, Any]
) -> list[dict[str, Any]]:
    now = row["requested_datetime"]
    return [
        {
            "request_id": request_id,
            "destination": d.agency,
            "primary": d.primary,
            "idempotency_key": f"{public_id}:{d.agency}",
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for d in report.destinations
    ]


def _dependent_rows(
    report: NewReport, request_id: int, now: datetime
) -> list[tuple[Table, list[dict[str, Any]]]]:
    """The rows besides the report and its deliveries, each with the table it goes in."""
    out: list[tuple[Table, list[dict[str, Any]]]] = []
    if report.contact:
        notify = report.notify or {}
        contact: dict[str, Any] = {name: report.contact.get(name) for name in PERSONAL_FIELDS}
        contact |= {
            "notify_email": notify.get("email", False),
            "notify_sms": notify.get("sms", False),
            "language": report.language,
        }
        out.append((_CONTACT, [{"request_id": request_id, **contact}]))
    if report.idempotency is not None and report.api_key_id is not None:
        key, fingerprint = report.idempotency
        submission = {
            "api_key_id": report.api_key_id,
            "key": key,
            "fingerprint": fingerprint,
            "request_id": request_id,
            "created_at": now,
        }
        out.append((_SUBMISSION, [submission]))
    if report.photos:
        photos = [
            {
                "key": p.key,
                "small_key": p.small_key,
                "request_id": request_id,
                "content_type": p.content_type,
                "created_at": now,
            }
            for p in report.photos
        ]
        out.append((_MEDIA, photos))
    return out


def _table(model: type[Base]) -> Table:
    """The model's table as a Core Table (the mapped class types it as any FromClause)."""
    return Base.metadata.tables[model.__tablename__]


_REQUEST = _table(ServiceRequest)
_DELIVERY = _table(Delivery)
_CONTACT = _table(ReporterContact)
_SUBMISSION = _table(Submission)
_MEDIA = _table(Media)
_COUNTER = _table(IdCounter)


def _insert_postgresql(conn: Connection, report: NewReport) -> Created:
    """The whole report in one statement: data-modifying CTEs take the public number,
    insert the report and the rows that hang off it, and return its row id. The public
    answer is rendered before the number is known, with a random marker where the number
    goes, which the statement replaces (the marker cannot be in what the reporter sent: it
    is drawn after the request was read)."""
    now = utcnow()
    marker = secrets.token_hex(16)
    private = report.service.private
    public_id = private_id(report.prefix) if private else f"{report.prefix}{marker}"
    row = _request_row(report, now, public_id)
    params: dict[str, Any] = {f"r_{name}": value for name, value in row.items()}
    params |= {"id_prefix": report.prefix, "marker": marker, "now": now}
    params |= {
        "delivery_destination": [d.agency for d in report.destinations],
        "delivery_primary": [d.primary for d in report.destinations],
    }
    dependents = _dependent_rows(report, 0, now)
    for table, rows in dependents:
        for name in _given(table):
            params[f"{table.name}_{name}"] = [r[name] for r in rows]
    statement = _postgresql_insert(private, tuple(row), tuple(t.name for t, _ in dependents))
    found = conn.execute(statement, params).first()
    if found is None:
        # No counter for this prefix yet (its first public report): make it, and again.
        counter = insert_ignoring_conflicts(conn, IdCounter, ["prefix"])
        conn.execute(counter.values(prefix=report.prefix, value=0))
        found = conn.execute(statement, params).one()
    return Created(found.id, found.public_id, row["token"], row["service_notice"])


def _given(table: Table) -> list[str]:
    """The columns of a dependent row that come from the report as arrays (not its id,
    the row id, or the time, which the statement supplies)."""
    return [c.name for c in table.c if c.name not in ("id", "request_id", "created_at")]


@functools.cache
def _postgresql_insert(
    private: bool, columns: tuple[str, ...], dependents: tuple[str, ...]
) -> Select[Any]:
    """The statement for one shape of report, built once (and so compiled once)."""
    values: dict[str, Any] = {
        name: bindparam(f"r_{name}", type_=_REQUEST.c[name].type) for name in columns
    }
    rows = select(*values.values())
    if not private:
        taken = (
            update(_COUNTER)
            .where(_COUNTER.c.prefix == bindparam("id_prefix"))
            .values(value=_COUNTER.c.value + 1)
            .returning(_COUNTER.c.value)
            .cte("number")
        )
        number = sql_cast(taken.c.value, Text)
        values["public_id"] = bindparam("id_prefix", type_=String) + number
        for piece in ("public_json", "public_xml"):
            values[piece] = func.replace(
                bindparam(f"r_{piece}", type_=Text), bindparam("marker", type_=Text), number
            )
        rows = select(*values.values()).select_from(taken)
    report = (
        insert(_REQUEST)
        .from_select(list(values), rows, include_defaults=False)
        .returning(_REQUEST.c.id, _REQUEST.c.public_id)
        .cte("report")
    )
    now = bindparam("now", type_=UTCDateTime)
    deliveries = _for_each(
        _DELIVERY,
        report,
        ["destination", "primary"],
        lambda given: {
            "idempotency_key": report.c.public_id + ":" + given.c.destination,
            "state": literal("pending"),
            "attempts": literal(0),
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    others = []
    for name in dependents:
        table = Base.metadata.tables[name]
        stamp = {"created_at": now} if "created_at" in table.c else {}
        others.append(_for_each(table, report, _given(table), stamp))
    return select(report.c.id, report.c.public_id).add_cte(deliveries, *others)


def _for_each(
    table: Table,
    report: Any,
    given: list[str],
    computed: dict[str, Any] | Callable[[Any], dict[str, Any]],
) -> Any:
    """INSERT INTO table: one row per element of the arrays bound as `<table>_<column>`
    for the `given` columns, each with the new report's id and the `computed` columns."""
    arrays = (
        func.unnest(*[bindparam(f"{table.name}_{n}", type_=ARRAY(table.c[n].type)) for n in given])
        .table_valued(*given)
        .render_derived(name=f"given_{table.name}")
    )
    extra = computed(arrays) if callable(computed) else computed
    rows = select(report.c.id, *[arrays.c[n] for n in given], *extra.values()).select_from(
        report.join(arrays, true())
    )
    return (
        insert(table)
        .from_select(["request_id", *given, *extra], rows, include_defaults=False)
        .cte(f"new_{table.name}")
    )


def private_id(prefix: str) -> str:
    return f"{prefix}P{secrets.token_hex(5).upper()}"


def reserve_numbers(session: Session | Connection, prefix: str, count: int) -> int:
    """Takes the next `count` public numbers of the prefix; returns the first of them."""
    last = session.execute(_BUMP, {"id_prefix": prefix, "count": count}).scalar()
    if last is None:
        first = insert_ignoring_conflicts(session, IdCounter, ["prefix"])
        session.execute(first.values(prefix=prefix, value=0))
        last = session.execute(_BUMP, {"id_prefix": prefix, "count": count}).scalar_one()
    return int(last) - count + 1


_BUMP = (
    update(_COUNTER)
    .where(_COUNTER.c.prefix == bindparam("id_prefix"))
    .values(value=_COUNTER.c.value + bindparam("count"))
    .returning(_COUNTER.c.value)
)


def find_submission(session: Session, api_key_id: int, key: str) -> Submission | None:
    return session.scalar(
        select(Submission).where(Submission.api_key_id == api_key_id, Submission.key == key)
    )


@dataclass
class RequestQuery:
    jurisdiction_id: str
    service_request_ids: Sequence[str] = ()
    service_codes: Sequence[str] = ()
    statuses: Sequence[str] = ()
    start: datetime | None = None
    end: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    page: int = 1
    page_size: int | None = MAX_RESULTS  # None: every match, no page (exports only)
    near: tuple[float, float, float] | None = None  # (lat, long, radius in metres)
    bbox: tuple[float, float, float, float] | None = None  # min_long, min_lat, max_long, max_lat
    agency_responsible: str | None = None
    sort: str = "-requested_datetime"  # or requested_datetime, -updated_datetime, updated_...
    include_private: bool = False
    private_agency: str | None = None  # a staff caller sees this agency's private reports
    own_key_id: int | None = None  # the caller's key: its own private reports are shown too

    @property
    def widened(self) -> bool:
        """Whether the caller sees more than the public view (widen_for set any of the
        three above): visible() then has their values, so the statement is the caller's."""
        return self.include_private or bool(self.private_agency) or self.own_key_id is not None

    def unwidened(self) -> RequestQuery:
        """The same query seen as anyone sees it: none of the three above."""
        return replace(self, include_private=False, private_agency=None, own_key_id=None)


def widen_for(q: RequestQuery, who: Caller | None) -> None:
    """What a key adds to the public view: an admin key every report, a staff key its
    agency's private reports, and any key the private reports it filed itself (which the
    answer then reduces to status and public notes, see schemas/output.py)."""
    if who is None:
        return
    q.own_key_id = who.key_id
    if who.role == "admin":
        q.include_private = True
    elif who.role == "staff":
        q.private_agency = who.agency


# Neither clause has parameters: built once (every listing and feed query uses them).
@functools.cache
def _followable() -> Any:
    """Not blackbox (its app was answered with no id, so none is handed out later), and
    not a batch report whose token has not resolved yet (its id would reach readers
    before the app that filed it)."""
    return and_(
        or_(ServiceRequest.service_type.is_(None), ServiceRequest.service_type != "blackbox"),
        or_(
            ServiceRequest.token.is_(None),
            ServiceRequest.deliveries.any(and_(Delivery.primary, Delivery.state == "done")),
        ),
    )


@functools.cache
def listed() -> Any:
    """What may be listed under its id to anyone: public and followable."""
    return and_(ServiceRequest.private.is_(False), _followable())


def visible(q: RequestQuery) -> Any:
    """The reports `q`'s caller may see (a WHERE clause), for listings and the feed."""
    if not q.widened:
        return listed()
    if q.include_private:
        return true()
    seen = [listed()]
    if q.private_agency:
        seen.append(ServiceRequest.deliveries.any(Delivery.destination == q.private_agency))
    if q.own_key_id is not None:
        seen.append(and_(ServiceRequest.api_key_id == q.own_key_id, _followable()))
    return or_(*seen)


def _visible(stmt: Select[Any], q: RequestQuery) -> Select[Any]:
    return stmt.where(visible(q))


def find_requests(session: Session, q: RequestQuery) -> list[ServiceRequest]:
    stmt, params = _listing("rows", q)
    return list(session.scalars(stmt, params))


def find_public_answers(
    session: Session | Connection, q: RequestQuery, fmt: str
) -> list[str] | None:
    """The stored public answer of each report the query lists, in its order; the rows
    without one (an import, older rows) are rendered here by the same schema. None when
    the page holds a private report (its filer sees it reduced): the caller must then
    answer row by row. Core only, so a connection will do (Database.one_statement)."""
    column = ServiceRequest.public_xml if fmt == "xml" else ServiceRequest.public_json
    stmt, params = _listing(column.key, q)
    found: list[Any] = list(session.execute(stmt, params).all())
    if any(private for _, _, private in found):
        return None
    missing = [rid for rid, piece, _ in found if piece is None]
    made = _rendered_by_id(session, missing, column.key) if missing else {}
    # On a Database.one_statement connection the two reads are two transactions: a row
    # purged between them (retention) is left out of the page rather than failing it.
    pieces = [piece if piece is not None else made.get(rid) for rid, piece, _ in found]
    return [piece for piece in pieces if piece is not None]


def _rendered_by_id(session: Session | Connection, ids: list[int], column: str) -> dict[int, str]:
    """Rows without a stored answer, rendered from their columns (fragments.rendered)."""
    rows = session.execute(select(_REQUEST).where(_REQUEST.c.id.in_(ids))).mappings()
    return {row["id"]: rendered(dict(row))[column] for row in rows}


def public_views(session: Session, q: RequestQuery, batch: int = 500) -> Iterator[dict[str, Any]]:
    """The public view (RequestSchema's whitelist) of every report `q` lists, in its
    order, read in batches through a server-side cursor so that memory stays flat however
    many there are: the stored JSON piece parsed, or, for a row without one, rendered.
    Whoever asks, only what is listed to anyone (exports are open data): the caller's
    widening is dropped here, so a key never adds its private reports."""
    stmt, params = _listing("export", q.unwidened())
    result = session.execute(stmt.execution_options(yield_per=batch), params)
    for part in result.partitions():
        missing = [rid for rid, piece in part if piece is None]
        made: dict[int, dict[str, Any]] = {}
        if missing:
            for row in session.scalars(
                select(ServiceRequest).where(ServiceRequest.id.in_(missing))
            ):
                made[row.id] = public_view(row)
            session.expunge_all()  # nothing of a batch stays behind in the identity map
        for rid, piece in part:
            yield json.loads(piece) if piece is not None else made[rid]


# What each listing reads: the rows (answers built from them), a page's stored answers
# (with `private`, which sends a page holding one down the row-by-row path), the export's.
_SELECTIONS: dict[str, Callable[[], Any]] = {
    "rows": lambda: select(ServiceRequest),
    "public_json": lambda: select(
        ServiceRequest.id, ServiceRequest.public_json, ServiceRequest.private
    ),
    "public_xml": lambda: select(
        ServiceRequest.id, ServiceRequest.public_xml, ServiceRequest.private
    ),
    "export": lambda: select(ServiceRequest.id, ServiceRequest.public_json),
}

# The filters of GET requests, each a clause on bound parameters of its own name: a
# listing's statement depends only on which filters it has (its shape), so the public
# listings' statements are built once per shape and run with the values (building and
# hashing the statement was a fifth of a filtered page).
_FILTERS: dict[str, Callable[[], Any]] = {
    "jurisdiction": lambda: ServiceRequest.jurisdiction_id == bindparam("jurisdiction"),
    "ids": lambda: ServiceRequest.public_id.in_(bindparam("ids", expanding=True)),
    "codes": lambda: ServiceRequest.service_code.in_(bindparam("codes", expanding=True)),
    "statuses": lambda: ServiceRequest.status.in_(bindparam("statuses", expanding=True)),
    "agency": lambda: ServiceRequest.agency_responsible == bindparam("agency"),
    # A box on the indexed lat/long columns first; for a circle, the exact distance.
    "lat_box": lambda: ServiceRequest.lat.between(bindparam("min_lat"), bindparam("max_lat")),
    "long_box": lambda: ServiceRequest.long.between(bindparam("min_long"), bindparam("max_long")),
    "circle": lambda: (
        distance_to(
            ServiceRequest.lat,
            ServiceRequest.long,
            bindparam("near_lat", type_=Float()),
            bindparam("near_long", type_=Float()),
        )
        <= bindparam("radius", type_=Float())
    ),
    "updated_after": lambda: ServiceRequest.updated_datetime >= bindparam("updated_after"),
    "updated_before": lambda: ServiceRequest.updated_datetime <= bindparam("updated_before"),
    "start": lambda: ServiceRequest.requested_datetime >= bindparam("start"),
    "end": lambda: ServiceRequest.requested_datetime <= bindparam("end"),
}


def _listing(selection: str, q: RequestQuery) -> tuple[Select[Any], dict[str, Any]]:
    """The statement and parameters of GET requests' filters, order and page, reading
    one of _SELECTIONS. A caller's widening (a key's private reports) holds the key's own
    values, so those statements are built each time; the public ones are kept."""
    shape, params = _shape(q)
    if q.widened:
        return _built(selection, shape, visible(q)), params
    return _public_built(selection, shape), params


def _shape(q: RequestQuery) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Which of _FILTERS the query has (with its order and whether it is paged), and the
    values of their parameters."""
    filters = ["jurisdiction"]
    params: dict[str, Any] = {"jurisdiction": q.jurisdiction_id}

    def where(name: str, **values: Any) -> None:
        filters.append(name)
        params.update(values)

    if q.service_request_ids:
        # Spec: a service_request_id list overrides every other filter.
        where("ids", ids=list(q.service_request_ids)[:MAX_RESULTS])
    else:
        if q.service_codes:
            where("codes", codes=list(q.service_codes))
        if q.statuses:
            where("statuses", statuses=list(q.statuses))
        if q.agency_responsible:
            where("agency", agency=q.agency_responsible)
        if q.bbox is not None:
            min_long, min_lat, max_long, max_lat = q.bbox
            where("lat_box", min_lat=min_lat, max_lat=max_lat)
            where("long_box", min_long=min_long, max_long=max_long)
        elif q.near is not None:
            lat, long, radius = q.near
            low_lat, high_lat, low_long, high_long = box_around(lat, long, radius)
            where("lat_box", min_lat=low_lat, max_lat=high_lat)
            if low_long is not None and high_long is not None:
                where("long_box", min_long=low_long, max_long=high_long)
            where("circle", near_lat=lat, near_long=long, radius=radius)
        if q.updated_after or q.updated_before:
            # Following changes to older reports is the point of these filters, so the
            # default 90-day window on requested_datetime does not apply.
            for name in ("updated_after", "updated_before", "start", "end"):
                if getattr(q, name):
                    where(name, **{name: getattr(q, name)})
        else:
            start, end = requested_window(q)
            where("start", start=start)
            where("end", end=end)
    if q.page_size is not None:
        size = min(q.page_size, MAX_RESULTS)
        params["limit"], params["offset"] = size, (q.page - 1) * size
    return (tuple(filters), q.sort, q.page_size is not None), params


def _built(selection: str, shape: tuple[Any, ...], seen: Any) -> Select[Any]:
    filters, sort, paged = shape
    stmt = _SELECTIONS[selection]().where(seen, *(_FILTERS[name]() for name in filters))
    stmt = stmt.order_by(*_order(sort))
    if paged:
        stmt = stmt.limit(bindparam("limit", type_=Integer())).offset(
            bindparam("offset", type_=Integer())
        )
    return stmt


@functools.lru_cache(maxsize=256)
def _public_built(selection: str, shape: tuple[Any, ...]) -> Select[Any]:
    return _built(selection, shape, visible(_NOBODY))


# A caller with no widening: what the public listings show (visible() decides, as ever).
_NOBODY = RequestQuery(jurisdiction_id="")


def requested_window(q: RequestQuery) -> tuple[datetime, datetime]:
    """The requested_datetime range a listing without updated_* filters covers: a missing
    bound is DEFAULT_WINDOW from the other one (the end from now)."""
    if q.start is None:
        end = q.end or utcnow()
        return end - DEFAULT_WINDOW, end
    return q.start, q.end or q.start + DEFAULT_WINDOW


def _order(sort: str) -> tuple[Any, Any]:
    """The sort column, then the id so that pages never overlap on equal times."""
    column = (
        ServiceRequest.updated_datetime
        if sort.lstrip("-") == "updated_datetime"
        else ServiceRequest.requested_datetime
    )
    if sort.startswith("-"):
        return column.desc(), ServiceRequest.id.desc()
    return column.asc(), ServiceRequest.id.asc()


def get_request(
    session: Session,
    public_id: str,
    *,
    include_private: bool = False,
    private_agency: str | None = None,
    own_key_id: int | None = None,
) -> ServiceRequest | None:
    q = RequestQuery(
        jurisdiction_id="",
        include_private=include_private,
        private_agency=private_agency,
        own_key_id=own_key_id,
    )
    stmt = _visible(select(ServiceRequest).where(ServiceRequest.public_id == public_id), q)
    return session.scalar(stmt)


def get_public_answer(
    session: Session | Connection, public_id: str, fmt: str, *, jurisdiction_id: str | None = None
) -> str | None:
    """The stored public answer of one report listed to anyone (rendered if it has none)."""
    column = "public_xml" if fmt == "xml" else "public_json"
    stmt = _ONE_PUBLIC[(column, bool(jurisdiction_id))]
    found = session.execute(stmt, {"public_id": public_id, "jurisdiction": jurisdiction_id}).first()
    if found is None or found[1] is not None:
        return None if found is None else found[1]
    return _rendered_by_id(session, [found[0]], column)[found[0]]


def _one_public(column: str, in_jurisdiction: bool) -> Select[Any]:
    stmt = select(ServiceRequest.id, getattr(ServiceRequest, column)).where(
        ServiceRequest.public_id == bindparam("public_id"), listed()
    )
    if in_jurisdiction:
        stmt = stmt.where(ServiceRequest.jurisdiction_id == bindparam("jurisdiction"))
    return stmt


# Every GET requests/{id} runs one of these: built once, not per request.
_ONE_PUBLIC = {
    (column, scoped): _one_public(column, scoped)
    for column in ("public_json", "public_xml")
    for scoped in (False, True)
}


def get_by_token(session: Session, token: str) -> ServiceRequest | None:
    return session.scalar(
        select(ServiceRequest)
        .where(ServiceRequest.token == token)
        .options(selectinload(ServiceRequest.deliveries))
    )


def token_resolved(row: ServiceRequest) -> bool:
    """A batch token resolves once the primary destination has acknowledged the report."""
    return any(d.primary and d.state == "done" for d in row.deliveries)


def history_for(session: Session, rows: Sequence[ServiceRequest]) -> dict[int, list[RequestUpdate]]:
    if not rows:
        return {}
    ids = [r.id for r in rows]
    out: dict[int, list[RequestUpdate]] = {i: [] for i in ids}
    for change in session.scalars(
        select(RequestUpdate)
        .where(RequestUpdate.request_id.in_(ids))
        .order_by(RequestUpdate.updated_datetime, RequestUpdate.id)
    ):
        out[change.request_id].append(change)
    return out


class UnknownCursor(Exception):
    """The feed's `after` names no entry the caller may see."""


@dataclass
class UpdateQuery:
    jurisdiction_id: str
    start: datetime
    end: datetime
    after: str | None = None  # the public id of the last entry the client saw
    limit: int = MAX_RESULTS
    viewer: RequestQuery | None = None  # who asks (widen_for); None: the public


def _visible_updates(
    stmt: Select[RequestUpdate, str | None], viewer: RequestQuery | None
) -> Select[RequestUpdate, str | None]:
    """Which updates the feed shows: those of the reports the caller may see, as in GET
    requests (`visible`; the public: `listed`), without touching the order or the ids."""
    return stmt.where(listed() if viewer is None else visible(viewer))


def find_updates(session: Session, q: UpdateQuery) -> list[tuple[RequestUpdate, str | None]]:
    """The feed, oldest first so a client resumes from the last entry it saw (changes made
    in the same second stay in the order they were made). The row id orders but is never
    shown: it counts private reports' updates too. The cursor is the public id of the
    last entry seen, looked up here among the entries the caller may see."""
    base = select(RequestUpdate, ServiceRequest.public_id).join(
        ServiceRequest, ServiceRequest.id == RequestUpdate.request_id
    )
    base = _visible_updates(
        base.where(ServiceRequest.jurisdiction_id == q.jurisdiction_id), q.viewer
    )
    stmt = base.where(
        RequestUpdate.updated_datetime >= q.start, RequestUpdate.updated_datetime <= q.end
    )
    if q.after is not None:
        seen = session.execute(
            base.with_only_columns(RequestUpdate.updated_datetime, RequestUpdate.id).where(
                RequestUpdate.public_id == q.after
            )
        ).first()
        if seen is None:
            raise UnknownCursor(q.after)
        when, row_id = seen
        stmt = stmt.where(
            or_(
                RequestUpdate.updated_datetime > when,
                and_(RequestUpdate.updated_datetime == when, RequestUpdate.id > row_id),
            )
        )
    stmt = stmt.order_by(RequestUpdate.updated_datetime, RequestUpdate.id).limit(
        min(q.limit, MAX_RESULTS)
    )
    return [(update, public_id) for update, public_id in session.execute(stmt)]
