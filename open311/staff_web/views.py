"""The staff pages' views: thin over open311/staff_accounts.py (who is signed in) and
open311/queue.py (the queue and its actions, shared with the staff API).

Every POST carries a CSRF token (checked before any view runs); every page that shows a
private report or personal fields, and every change, is written to the audit log. Templates
receive what the schemas in schemas/staff.py dumped, never ORM rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from marshmallow import Schema, ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from schemas.staff import (
    AssignFormSchema,
    BulkFormSchema,
    QueueFilterSchema,
    QueueRowSchema,
    SignInSchema,
    StaffPageReportSchema,
    StatusFormSchema,
)

from .. import queue
from ..api.params import gateway
from ..audit import record_event, record_reads
from ..maps import MapPoint, map_view
from ..models import ServiceRequest
from ..staff_accounts import SignInRefused, StaffMember, active_member, colleagues, sign_in
from ..web import page_headers
from . import csrf

bp = Blueprint("staff_web", __name__, url_prefix="/staff")
bp.after_request(page_headers)  # the resident pages' CSP and headers


@bp.after_request
def _no_store(response: Response) -> Response:
    # These pages carry private reports and reporters' contacts: no cache keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


OPEN_ENDPOINTS = {"staff_web.sign_in", "staff_web.home"}
CSV_COLUMNS = tuple(QueueRowSchema().fields)


# --- who is signed in ---------------------------------------------------------------


@bp.before_request
def _guard() -> BaseResponse | None:
    if not current_app.config.get("STAFF_PAGES_ENABLED"):
        return _page_error(
            503, _("Staff sign-in is not set up on this gateway: set OPEN311_SECRET_KEY.")
        )
    if request.method == "POST":
        csrf.protect()
    g.member = signed_in()
    if g.member is None and request.endpoint not in OPEN_ENDPOINTS:
        return redirect(url_for("staff_web.sign_in", next=request.full_path.rstrip("?")))
    return None


def signed_in() -> StaffMember | None:
    """The member whose session cookie came with this request (any page, e.g. /media/)."""
    uid, stamp = session.get("uid"), session.get("stamp")
    if not isinstance(uid, int) or not isinstance(stamp, str):
        return None
    with gateway().db.read() as s:
        return active_member(s, uid, stamp)


def _member() -> StaffMember:
    member: StaffMember = g.member
    return member


@bp.context_processor
def _context() -> dict[str, Any]:
    member = g.get("member")
    agency = gateway().catalog.agencies.get(member.agency) if member else None
    return {
        "member": member,
        "agency_name": agency.name if agency else None,
        "inbox": bool(member and queue.is_inbox(gateway().catalog, member.agency)),
    }


def _safe_next(target: str | None) -> str:
    """Only a path on these pages: a crafted `next` must not send anyone elsewhere."""
    if target and target.startswith("/staff/") and not target.startswith("//"):
        return target
    return url_for("staff_web.queue_page")


@bp.get("/")
def home() -> BaseResponse:
    return redirect(url_for("staff_web.queue_page" if g.member else "staff_web.sign_in"))


@bp.route("/sign-in", methods=["GET", "POST"], endpoint="sign_in")
def sign_in_page() -> Any:
    if request.method == "GET":
        return render_template("staff/sign_in.html", next=request.args.get("next", ""))
    data, errors = _form(SignInSchema(), request.form)
    if errors:
        return render_template("staff/sign_in.html", errors=errors, next=request.form.get("next"))
    refused: SignInRefused | None = None
    with gateway().db.write() as s, s.begin():
        try:
            member = sign_in(s, data["email"], data["password"])
            record_event(s, member.caller(), "staff.web.sign_in")
        except SignInRefused as exc:
            refused = exc  # the failure count is committed with this transaction
    if refused is not None:
        message = (
            _("Too many failed attempts: this account is locked for a while. Try again later.")
            if refused.locked
            else _("That e-mail and password do not match an account.")
        )
        return render_template(
            "staff/sign_in.html", failed=message, next=request.form.get("next")
        ), (429 if refused.locked else 401)
    session.clear()  # a fresh session: nothing from before signing in carries over
    session.permanent = True
    session["uid"], session["stamp"] = member.id, member.stamp
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/sign-out")
def sign_out() -> BaseResponse:
    member = _member()
    with gateway().db.write() as s, s.begin():
        record_event(s, member.caller(), "staff.web.sign_out")
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("staff_web.sign_in"))


# --- the queue ----------------------------------------------------------------------


def _form(schema: Schema, source: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema's data from a form or query string (empty fields count as absent), and
    marshmallow's messages keyed by field name."""
    raw: dict[str, Any] = {}
    for key in source:
        values = [v for v in source.getlist(key) if v != ""]
        if values:
            raw[key] = values if key == "ids" else values[0]
    try:
        return schema.load(raw), {}
    except ValidationError as exc:
        return {}, exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}


def _query(member: StaffMember) -> tuple[queue.QueueQuery, dict[str, Any]]:
    params, errors = _form(QueueFilterSchema(), request.args)
    if errors:
        flash(_("Some filters were not understood and were ignored."))
        params = QueueFilterSchema().load({})
    q = queue.QueueQuery(
        agency=member.agency,
        status=params["status"],
        service_code=params.get("service"),
        area=params.get("area"),
        age=params.get("age"),
        claimed=params.get("claimed"),
        sort=params["sort"],
        page=params["page"],
        page_size=params["page_size"],
    )
    return q, params


def _audit_rows(member: StaffMember, rows: Iterable[ServiceRequest], action: str) -> None:
    sensitive = [r.public_id for r in rows if r.public_id and (r.private or r.contact)]
    if sensitive:
        with gateway().db.write() as s, s.begin():
            record_reads(s, member.caller(), action, sensitive)


def _queue_rows(
    member: StaffMember, q: queue.QueueQuery, action: str, everything: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """The queue's rows as QueueRowSchema dumps them, and the total; audited."""
    gw = gateway()
    with gw.db.read() as s:
        rows, total = queue.find_queue(s, gw.router, q, everything=everything)
        body = QueueRowSchema(many=True, agency=member.agency).dump(rows)
    _audit_rows(member, rows, action)
    return body, total


@bp.get("/queue")
def queue_page() -> str:
    member = _member()
    gw = gateway()
    q, params = _query(member)
    body, total = _queue_rows(member, q, "staff.web.list")
    with gw.db.read() as s:
        people = colleagues(s, member.agency)
    filters = {k: v for k, v in params.items() if k != "page"}
    pages = max(1, -(-total // q.page_size))
    located = [r for r in body if r["status"] == "open" and r["lat"] is not None]
    return render_template(
        "staff/queue.html",
        rows=body,
        total=total,
        page=q.page,
        pages=pages,
        filters=filters,
        services=queue.service_choices(gw.router, member.agency),
        areas=sorted(gw.router.index.titles.items(), key=lambda kv: kv[1]),
        people=people,
        people_pairs=[(p, p) for p in people],
        page_url=lambda n: (
            url_for("staff_web.queue_page") + "?" + urlencode({**filters, "page": n})
        ),
        csv_url=url_for("staff_web.queue_csv") + "?" + urlencode(filters),
        here=request.full_path.rstrip("?"),
        located=located,
        map=map_view(
            [
                MapPoint(r["lat"], r["long"], r["service_request_id"], _report_href(r))
                for r in located
            ],
            gw.router.index.outlines_within,
        ),
    )


def _report_href(row: dict[str, Any]) -> str:
    return url_for("staff_web.report_page", public_id=row["service_request_id"])


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula is quoted (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/queue.csv")
def queue_csv() -> Response:
    member = _member()
    q, _params = _query(member)
    body, _total = _queue_rows(member, q, "staff.web.export", everything=True)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in body:
        writer.writerow([_csv_cell(item.get(c)) for c in CSV_COLUMNS])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{member.agency}-queue.csv"',
        },
    )


# --- one report ---------------------------------------------------------------------


@bp.get("/requests/<path:public_id>")
def report_page(public_id: str) -> str:
    member = _member()
    gw = gateway()
    with gw.db.read() as s:
        row, delivery = queue.owned(s, member.agency, public_id)
        events = queue.history(s, row, member.agency)
        report = StaffPageReportSchema(agency=member.agency, events=events).dump(row)
        people = colleagues(s, member.agency)
        primary = delivery.primary
    service = gw.catalog.service(row.jurisdiction_id, row.service_code)
    labels = {a.code: a.description for a in service.attributes} if service else {}
    _audit_rows(member, [row], "staff.web.view")
    return render_template(
        "staff/report.html",
        report=report,
        labels=labels,
        people=people,
        primary=primary,
        mine=report["claimed_by"] == member.email,
    )


def _act(public_id: str, action: str, detail: str | None, work: Any) -> None:
    """Run one action on one report in a transaction, audited; refusals raise QueueError."""
    member = _member()
    gw = gateway()
    if not queue.is_inbox(gw.catalog, member.agency):
        raise queue.ReadOnly(_("This agency's reports are handled in its own system."))
    with gw.db.write() as s, s.begin():
        row, delivery = queue.owned(s, member.agency, public_id)
        work(s, row, delivery)
        record_reads(s, member.caller(), action, [public_id], detail=detail)


def _back(public_id: str) -> BaseResponse:
    return redirect(url_for("staff_web.report_page", public_id=public_id))


def _may_assign(member: StaffMember, claimed_by: str | None) -> bool:
    """Staff hand on what is unclaimed or theirs; only an admin takes from a colleague."""
    return member.role == "admin" or claimed_by in (None, member.email)


@bp.post("/requests/<path:public_id>/claim")
def claim(public_id: str) -> BaseResponse:
    who = _member().caller()
    _act(public_id, "staff.web.claim", None, lambda s, row, d: queue.claim(d, who))
    flash(_("You have claimed %(id)s.", id=public_id))
    return _back(public_id)


def _check_assignee(member: StaffMember, to: str | None) -> None:
    if to is not None:
        with gateway().db.read() as s:
            if to not in colleagues(s, member.agency):
                raise queue.NotFound(_("%(who)s has no account at this agency.", who=to))


@bp.post("/requests/<path:public_id>/assign")
def assign(public_id: str) -> Any:
    member = _member()
    data, errors = _form(AssignFormSchema(), request.form)
    if errors:
        raise queue.QueueError(_("Choose a person from the list."))
    to = data.get("to")
    _check_assignee(member, to)

    def work(s: Any, row: ServiceRequest, delivery: Any) -> None:
        if not _may_assign(member, delivery.claimed_by):
            raise queue.AlreadyClaimed(
                _("Only an admin can reassign a report a colleague has claimed.")
            )
        queue.assign(delivery, to)

    _act(public_id, "staff.web.assign", to or "unclaimed", work)
    flash(_("Assigned to %(who)s.", who=to) if to else _("The report is unclaimed again."))
    return _back(public_id)


def _expected(value: Any) -> datetime | None:
    # A date without a time: midday UTC shows as that same day in every US time zone.
    return datetime.combine(value, time(12), UTC) if value else None


@bp.post("/requests/<path:public_id>/status")
def set_status(public_id: str) -> Any:
    member = _member()
    data, errors = _form(StatusFormSchema(), request.form)
    if errors:
        flash(_("The change was not saved: check the status, notes and date."))
        return _back(public_id)
    change = queue.StatusChange(
        status=data["status"],
        public_note=data.get("public_note"),
        internal_note=data.get("internal_note"),
        expected_datetime=_expected(data.get("expected_date")),
    )
    catalog, who = gateway().catalog, member.caller()
    _act(
        public_id,
        "staff.web.status",
        data["status"],
        lambda s, row, d: queue.set_status(s, catalog, who, row, d, change),
    )
    flash(_("Saved: the report is %(status)s.", status=_status_word(data["status"])))
    return _back(public_id)


def _status_word(status: str) -> str:
    return _("open") if status == "open" else _("closed")


@bp.post("/bulk")
def bulk() -> BaseResponse:
    member = _member()
    back = _safe_next(request.form.get("back"))
    data, errors = _form(BulkFormSchema(), request.form)
    if errors:
        flash(
            _("Select at least one report.")
            if "ids" in errors
            else _("Choose what to do with the selected reports.")
        )
        return redirect(back)
    to = data.get("to")
    if data["action"] == "assign":
        _check_assignee(member, to)
    catalog, who = gateway().catalog, member.caller()
    change = queue.StatusChange(
        status="closed",
        public_note=data.get("public_note"),
        internal_note=data.get("internal_note"),
    )
    done, refused = 0, []
    for public_id in dict.fromkeys(data["ids"]):

        def work(s: Any, row: ServiceRequest, delivery: Any, public_id: str = public_id) -> None:
            if data["action"] == "close":
                queue.set_status(s, catalog, who, row, delivery, change)
            elif not _may_assign(member, delivery.claimed_by):
                raise queue.AlreadyClaimed(public_id)
            else:
                queue.assign(delivery, to)

        action = "staff.web.bulk_close" if data["action"] == "close" else "staff.web.bulk_assign"
        try:
            _act(public_id, action, to if data["action"] == "assign" else "closed", work)
            done += 1
        except queue.QueueError:
            refused.append(public_id)
    flash(_("%(n)d reports changed.", n=done))
    if refused:
        flash(_("Not changed (not yours to change): %(ids)s", ids=", ".join(refused)))
    return redirect(back)


# --- errors, as pages ---------------------------------------------------------------


def _page_error(status: int, message: str) -> Response:
    return Response(render_template("staff/error.html", message=message), status=status)


@bp.errorhandler(queue.QueueError)
def _refused(exc: queue.QueueError) -> Response:
    return _page_error(exc.status, str(exc))


@bp.errorhandler(CSRFError)
def _csrf(exc: CSRFError) -> Response:
    return _page_error(
        400,
        _("This form was not sent from this site, or it expired. Go back, reload and try again."),
    )


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Response:
    return _page_error(exc.code or 500, exc.description or "")
