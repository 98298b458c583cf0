"""The resident pages' views: thin over the catalogue, the contact rule and the store."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import format_datetime, gettext

from schemas.datetimes import parse_w3c
from schemas.output import ExtendedRequestSchema

from ..api.requests import create as create_request
from ..catalog import Catalog, Service
from ..errors import APIError
from ..gateway import Gateway
from ..notifications import offered
from ..store import get_by_token, get_request, history_for, token_resolved
from . import bp
from .catalogue import grouped
from .front_key import front_key


def _gateway() -> Gateway:
    gw: Gateway = current_app.extensions["open311"]
    return gw


def _catalog() -> Catalog:
    return _gateway().catalog


def _jurisdiction(catalog: Catalog) -> str:
    """The jurisdiction picked on the page (`?jurisdiction=`), else the default, else the first."""
    chosen = request.args.get("jurisdiction", "")
    if chosen in catalog.jurisdictions:
        return chosen
    return catalog.gateway.default_jurisdiction or next(iter(catalog.jurisdictions))


API_POINTER = {
    "name": "open311 gateway",
    "discovery": "/open311/v2/discovery.json",
    "services": "/open311/v2/services.json",
    "docs": "/docs",
    "openapi": "/openapi.yaml",
}


@bp.get("/")
def report_new() -> Any:
    """Step 1 of a report: the services, grouped and searchable. A client that prefers JSON
    (apps probing the root) gets the pointer to the API it got before the pages existed."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if best == "application/json":
        return jsonify(API_POINTER)
    catalog = _catalog()
    j = _jurisdiction(catalog)
    query = request.args.get("q", "").strip()[:100]
    return render_template(
        "web/report_new.html",
        jurisdictions=list(catalog.jurisdictions.values()),
        jurisdiction=catalog.jurisdictions[j],
        groups=grouped(catalog, j, query),
        query=query,
    )


def _service(jurisdiction_id: str, code: str) -> Service:
    service = _catalog().service(jurisdiction_id, code)
    if service is None:
        abort(404)
    return service


@bp.get("/report/<jurisdiction_id>/<code>")
def report_form(
    jurisdiction_id: str,
    code: str,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> str:
    service = _service(jurisdiction_id, code)
    return render_template(
        "web/report_form.html",
        service=service,
        jurisdiction=_catalog().jurisdictions[jurisdiction_id],
        errors=errors or {},
        values=values or {},
        front_key=front_key(current_app),
        # The "send me updates" box shows only for the channels this gateway sends on.
        channels=offered(_catalog().notifications, service),
    )


@bp.post("/report/<jurisdiction_id>/<code>")
def report_send(jurisdiction_id: str, code: str) -> Any:
    """The form without JavaScript (an old phone, a script blocked) posts here: the very
    create of the API (the form carries the front's key), then the tracking page, or the
    form again with the API's errors and what was typed."""
    _service(jurisdiction_id, code)
    try:
        answer = create_request("json")
    except APIError as exc:
        errors = {f"error-{i}": description for i, (_, description) in enumerate(exc.errors)}
        values = {k: v for k, v in request.form.items() if k in KEPT_ON_ERROR}
        return report_form(jurisdiction_id, code, errors, values), exc.status
    return redirect(_after_sending(answer.get_json()[0]), code=303)


# What the form shows again after a refusal (files cannot be; the key is the page's own).
KEPT_ON_ERROR = (
    "description",
    "address_string",
    "lat",
    "long",
    "first_name",
    "last_name",
    "email",
    "phone",
)


def _after_sending(created: dict[str, Any]) -> str:
    """The tracking page of a new report; a blackbox service hands out no number, so its
    residents get a page that says it was received and nothing more."""
    number = created.get("service_request_id") or created.get("token")
    if not number:
        return url_for("web.received")
    return url_for("web.track", number=number, new=1)


@bp.get("/received")
def received() -> str:
    return render_template("web/received.html")


@bp.get("/track")
def track_lookup() -> Any:
    """The form to type a tracking number; with `?id=` it goes to that number's page."""
    number = request.args.get("id", "").strip()
    if number:
        return redirect(url_for("web.track", number=number))
    return render_template("web/track_lookup.html")


@bp.get("/track/<path:number>")
def track(number: str) -> Any:
    """A report's public page by its number or its batch token. A private report (or an
    unresolved token) shows only that it was received."""
    with _gateway().db.read() as session:
        row = get_request(session, number, include_private=True)
        by_token = False
        if row is None:
            row = get_by_token(session, number)
            by_token = row is not None
            if row is not None and token_resolved(row) and not row.private:
                return redirect(url_for("web.track", number=row.public_id))
        if row is None:
            return render_template("web/track_lookup.html", not_found=number), 404
        if row.private or by_token:
            return render_template("web/track_received.html", number=number)
        report = ExtendedRequestSchema(history=history_for(session, [row])).dump(row)
    return render_template("web/track.html", report=report, new=request.args.get("new") == "1")


@bp.app_template_filter("when")
def when(value: str | None) -> str:
    """A W3C datetime from an output schema, for people, in the page's language (UTC)."""
    if not value:
        return ""
    return f"{format_datetime(parse_w3c(value), 'medium')} UTC"


@bp.app_template_global("status_label")
def status_label(status: str) -> str:
    return {"open": gettext("Open"), "closed": gettext("Closed")}.get(status, status)


@bp.app_template_filter("contact_label")
def contact_label(field: str) -> str:
    """A personal field's name for people (the contact rule's `fields`)."""
    labels = {
        "email": gettext("an e-mail address"),
        "phone": gettext("a phone number"),
        "first_name": gettext("your first name"),
        "last_name": gettext("your last name"),
        "device_id": gettext("a device id"),
        "account_id": gettext("an account id"),
    }
    return labels.get(field, field)
