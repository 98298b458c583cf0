"""Where the gateway is, for every absolute URL it hands out (discovery's endpoint, the
`media_url` of a photo, a redirect's Location): from the configuration, never from the
Host header, which any client sets to what it likes (and a cache may then serve the
forged URL to everyone; a stored `media_url` would keep it for good).

`gateway.endpoint_url` (the public URL of `/open311/v2`; the site is what comes before
that path, or its origin), else the address the server itself listens on, as the WSGI
server reports it in SERVER_NAME and SERVER_PORT (gunicorn: the bound socket, e.g.
`http://127.0.0.1:8311`), read before `ProxyFix`, so a forwarded Host cannot stand in for
it either; the scheme is the request's (a trusted proxy's X-Forwarded-Proto with
OPEN311_PROXY_HOPS). Set `endpoint_url` in production. (The reporter's messages have
their own configured base, `notifications.public_url`.)
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

from .header_lookup import header


def _configured_root() -> str | None:
    from . import API_PREFIX

    catalog = current_app.extensions["open311"].catalog
    endpoint = catalog.gateway.endpoint_url  # no trailing slash
    if endpoint:
        if endpoint.endswith(API_PREFIX):
            return endpoint[: -len(API_PREFIX)]
        parts = urlsplit(endpoint)
        return f"{parts.scheme}://{parts.netloc}"
    return None


def _listening_root() -> str:
    environ = request.environ
    original = environ.get("werkzeug.proxy_fix.orig", {})
    name = original.get("SERVER_NAME", environ.get("SERVER_NAME", "localhost"))
    port = str(original.get("SERVER_PORT", environ.get("SERVER_PORT", "")))
    scheme = request.scheme  # a trusted proxy's X-Forwarded-Proto (OPEN311_PROXY_HOPS) or http
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"  # an IPv6 address
    default = {"http": "80", "https": "443"}.get(scheme)
    return f"{scheme}://{name}" + ("" if port in ("", default) else f":{port}")


def site_root() -> str:
    """The site's public root URL, without a trailing slash."""
    return _configured_root() or _listening_root()


def api_root() -> str:
    """The public URL of the GeoReport endpoint, without a trailing slash."""
    from . import API_PREFIX

    catalog = current_app.extensions["open311"].catalog
    return catalog.gateway.endpoint_url or site_root() + API_PREFIX


def external(path: str) -> str:
    """An absolute URL for a path of this app (as `url_for` makes it, from `/`)."""
    return site_root() + path


def install_origin(app: Flask) -> None:
    """Absolute Locations werkzeug makes from the Host header (its redirects to the slashed
    URL of a rule, say) point at the configured site instead; templates get `site_root`."""
    app.jinja_env.globals["site_root"] = site_root

    @app.after_request
    def _location(response: Response) -> Response:
        # header(), not get(): Location is absent from nearly every answer
        # (open311/header_lookup.py).
        location = header(response.headers, "Location")
        if location and location.startswith(request.host_url):
            ours = external("/" + location[len(request.host_url) :])
            response.headers["Location"] = ours
            if 300 <= response.status_code < 400:  # werkzeug's redirect page links it too
                body = response.get_data().replace(escape(location).encode(), escape(ours).encode())
                response.set_data(body)
        return response
