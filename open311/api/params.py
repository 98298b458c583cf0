"""What every endpoint needs from a request: merged parameters, the jurisdiction, the
caller, and schema loading that turns marshmallow's complaints into Open311 errors."""

from __future__ import annotations

import hashlib
import json
import weakref
from typing import Any

from flask import current_app, request
from marshmallow import Schema, ValidationError, missing

from schemas.errors import parameter_lines
from schemas.personal import PERSONAL_FIELDS

from ..catalog import Jurisdiction
from ..errors import APIError
from ..gateway import Gateway
from ..header_lookup import header
from ..keys import Caller, authenticate
from ..routing import OutsideEveryJurisdiction


def gateway() -> Gateway:
    return current_app.extensions["open311"]


def items() -> list[tuple[str, str]]:
    """Form fields, then query-string fields: clients put api_key and jurisdiction_id in
    the query string even on POST, so both are read, the body winning a clash."""
    pairs: list[tuple[str, str]] = []
    if request.method == "POST":
        # A multipart part without a name is no field (werkzeug keys it None).
        pairs.extend((k, v) for k, v in request.form.items(multi=True) if k is not None)
    pairs.extend(request.args.items(multi=True))
    return pairs


def first(name: str) -> str | None:
    for key, value in items():
        if key == name and value != "":
            return value
    return None


def load(schema: Schema, data: Any) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise APIError(400, parameter_lines(exc.messages)) from exc


# What each query schema loads from no parameters at all (load_query).
_NOTHING: weakref.WeakKeyDictionary[Schema, dict[str, Any]] = weakref.WeakKeyDictionary()


def load_query(schema: Schema) -> dict[str, Any]:
    """The request's parameters loaded with `schema`. Most GETs of the catalogue and of
    one report carry none, and a schema that adds no value of its own (no load_default; no
    post_load either, which is not checked) loads nothing the same way every time, so that
    is loaded once per schema: marshmallow spent about 20 microseconds on it, a tenth of a
    services.json answer. A schema with a default is loaded on every request."""
    pairs = items()
    if pairs:
        return load(schema, dict(pairs))
    found = _NOTHING.get(schema)
    if found is None:
        found = load(schema, {})
        if all(f.load_default is missing for f in schema.load_fields.values()):
            _NOTHING[schema] = found
    return dict(found)


def jurisdiction(
    given: str | None = None, lat: float | None = None, long: float | None = None
) -> Jurisdiction:
    """The jurisdiction named, else the one whose boundary holds the point (several
    served), else the default; 400 when none can be told, 404 for an unknown id."""
    catalog = gateway().catalog
    given = given if given is not None else first("jurisdiction_id")
    router = gateway().router
    if not given and lat is not None and long is not None and router.locates():
        try:
            return catalog.jurisdictions[router.jurisdiction_for(lat, long)]
        except OutsideEveryJurisdiction as exc:
            raise APIError(400, str(exc)) from exc
    if not given:
        default = catalog.gateway.default_jurisdiction
        if default is None:
            raise APIError(
                400,
                "jurisdiction_id is required: this gateway serves "
                + ", ".join(sorted(catalog.jurisdictions))
                + ".",
            )
        return catalog.jurisdictions[default]
    found = catalog.jurisdictions.get(given)
    if found is None:
        served = ", ".join(sorted(catalog.jurisdictions))
        raise APIError(404, f"Unknown jurisdiction_id. This gateway serves: {served}.")
    return found


def presented_key() -> str | None:
    # header(), not request.headers.get(): this runs on every API GET, mostly without
    # either header (open311/header_lookup.py).
    key = first("api_key") or header(request.headers, "X-API-Key")
    auth = header(request.headers, "Authorization") or ""
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key or None


def caller() -> Caller | None:
    """The key's holder when a valid key was presented (GETs accept and may ignore one)."""
    key = presented_key()
    if key is None:
        return None
    with gateway().db.one_statement() as conn:
        return authenticate(conn, key)


def required_caller(action: str, method: str) -> Caller:
    """The key's holder for a POST that needs a key; 403 without one or with a wrong one
    (worded as mySociety's endpoints word it, `method` being their name for the call)."""
    key = presented_key()
    if key is None:
        raise APIError(403, f"An api_key is required to {action}.")
    with gateway().db.one_statement() as conn:
        found = authenticate(conn, key)
    if found is None:
        raise APIError(403, f"Invalid api_key received -- can't proceed with {method}.")
    return found


def idempotency(pairs: list[tuple[str, str]]) -> tuple[str, str] | None:
    """An app may send `Idempotency-Key` (IETF httpapi draft) so that a POST retried after
    a lost answer is not recorded twice. Returns (key, request fingerprint)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    if len(key) > 200 or not key.isprintable():
        # Stored and compared in SQL: a NUL (or any control character) has no place in it.
        raise APIError(400, "Idempotency-Key is limited to 200 printable characters.")
    return key, fingerprint(pairs)


def fingerprint(pairs: list[tuple[str, str]]) -> str:
    """What a POST said, to tell a retry (the same) from a reused key (different). Personal
    fields stay out: the fingerprint outlives the contact (anonymous services, the purge),
    and with the public record it would confirm who filed a report."""
    payload = sorted((k, v) for k, v in pairs if k != "api_key" and k not in PERSONAL_FIELDS)
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()
