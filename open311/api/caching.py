"""HTTP caching of the API's GET answers: an ETag on every 200 (304 to a matching
If-None-Match), and Cache-Control that lets a shared cache (nginx, a CDN) keep only what
every caller gets. An answer to a caller who presented a key may hold more than the public
view (a staff key's private reports) and is `private`; the others are `public` for a few
seconds, and Vary names the headers that carry a key."""

from __future__ import annotations

from hashlib import sha1

from flask import Flask, Response, request

from ..header_lookup import header
from .params import presented_key

# Seconds a shared cache may serve a public answer without asking again: the catalogue
# changes only with the configuration; reports change by the second.
MAX_AGE_CATALOGUE = 300
MAX_AGE_REPORTS = 10
_CATALOGUE = ("discovery.", "services.", "root_discovery.")
_VARY = "X-API-Key, Authorization"
# The request headers werkzeug's make_conditional reads (is_resource_modified, the Range
# handling): without any of them it only adds Date and Content-Length, done here without
# its parsing, which was a fifth of a catalogue GET's cost.
_CONDITIONAL = (
    "If-None-Match",
    "If-Modified-Since",
    "If-Match",
    "If-Unmodified-Since",
    "If-Range",
    "Range",
)


def install_caching(app: Flask, prefixes: tuple[str, ...]) -> None:
    """For the GET routes of the blueprints named in `prefixes` (`services.` etc.)."""

    @app.after_request
    def _conditional(response: Response) -> Response:
        endpoint = request.endpoint or ""
        if (
            request.method not in ("GET", "HEAD")
            or response.status_code != 200
            or not endpoint.startswith(prefixes)
        ):
            return response
        # header(), not `in` or get(): these are mostly absent (open311/header_lookup.py).
        sent = response.headers
        if header(sent, "Cache-Control") is not None:
            return response
        if presented_key() is not None:
            response.headers["Cache-Control"] = "private, no-cache"
        else:
            age = MAX_AGE_CATALOGUE if endpoint.startswith(_CATALOGUE) else MAX_AGE_REPORTS
            response.headers["Cache-Control"] = f"public, max-age={age}"
        if header(sent, "Vary") is not None:  # merged as werkzeug's HeaderSet does (no duplicates)
            response.vary.add("X-API-Key")
            response.vary.add("Authorization")
        else:
            response.headers["Vary"] = _VARY
        if header(sent, "ETag") is None:  # response.add_etag(), without its header lookup
            response.set_etag(sha1(response.get_data()).hexdigest())
        if any(header(request.headers, name) is not None for name in _CONDITIONAL):
            response.make_conditional(request)  # a 304 (or 412, 206), in place
            return response
        # What make_conditional adds to a GET or HEAD that asks for nothing conditional,
        # but Date: the WSGI server writes it (gunicorn drops an application's Date as a
        # hop-by-hop header and sends its own; werkzeug's server adds one too).
        if response.automatically_set_content_length and header(sent, "Content-Length") is None:
            length = response.calculate_content_length()
            if length is not None:
                response.headers["Content-Length"] = str(length)
        return response
