"""HTTP caching of the API's GET answers: an ETag on every 200 (304 to a matching
If-None-Match), and Cache-Control that lets a shared cache (nginx, a CDN) keep only what
every caller gets. An answer to a caller who presented a key may hold more than the public
view (a staff key's private reports) and is `private`; the others are `public` for a few
seconds, and Vary names the headers that carry a key."""

from __future__ import annotations

from flask import Flask, Response, request

from .params import presented_key

# Seconds a shared cache may serve a public answer without asking again: the catalogue
# changes only with the configuration; reports change by the second.
MAX_AGE_CATALOGUE = 300
MAX_AGE_REPORTS = 10
_CATALOGUE = ("discovery.", "services.", "root_discovery.")


def install_caching(app: Flask, prefixes: tuple[str, ...]) -> None:
    """For the GET routes of the blueprints named in `prefixes` (`services.` etc.)."""

    @app.after_request
    def _conditional(response: Response) -> Response:
        endpoint = request.endpoint or ""
        if (
            request.method not in ("GET", "HEAD")
            or response.status_code != 200
            or not endpoint.startswith(prefixes)
            or "Cache-Control" in response.headers
        ):
            return response
        if presented_key() is not None:
            response.headers["Cache-Control"] = "private, no-cache"
        else:
            age = MAX_AGE_CATALOGUE if endpoint.startswith(_CATALOGUE) else MAX_AGE_REPORTS
            response.headers["Cache-Control"] = f"public, max-age={age}"
        response.vary.add("X-API-Key")
        response.vary.add("Authorization")
        response.add_etag()
        response.make_conditional(request)
        return response
