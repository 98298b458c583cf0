"""GET /openapi.yaml and GET /docs: the API description, and a page that renders it.

The description is the repository's top-level `openapi.yaml`; the package reaches it
through `open311/openapi.yaml`, a symlink, so the file served is the file edited (a built
wheel carries the content itself). The page uses the vendored Swagger UI under
`static/docs/` (see VENDORED.md) and loads nothing from outside this server: its Content
Security Policy allows this origin only.
"""

from __future__ import annotations

from importlib import resources

from flask import Blueprint, Response, request, url_for
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

bp = Blueprint("docs", __name__)

SPEC_RESOURCE = "openapi.yaml"
YAML_TYPE = "application/yaml"

# The page may load scripts, styles, images and fonts from this origin only, and talk to
# this origin only ("Try it out"). Swagger UI sets inline style attributes, hence
# 'unsafe-inline' for styles (never for scripts).
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    )
)

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Open311 GeoReport v2 gateway: API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
<link rel="stylesheet" href="{page_css}">
</head>
<body>
<noscript><p>This page needs JavaScript. The API description itself is
<a href="{spec}">openapi.yaml</a>.</p></noscript>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{bundle}"></script>
<script src="{page_js}"></script>
</body>
</html>
"""


def spec_bytes() -> bytes:
    """The description as shipped in the package (read on each call: it is small)."""
    return resources.files("open311").joinpath(SPEC_RESOURCE).read_bytes()


@bp.get("/openapi.yaml")
def openapi_yaml() -> BaseResponse:
    response = Response(spec_bytes(), content_type=YAML_TYPE)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/docs")
def docs_page() -> Response:
    def static(name: str) -> str:
        return str(escape(url_for("static", filename=f"docs/{name}")))

    html = PAGE.format(
        css=static("swagger-ui.css"),
        page_css=static("docs.css"),
        bundle=static("swagger-ui-bundle.js"),
        page_js=static("docs.js"),
        spec=escape(url_for("docs.openapi_yaml")),
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
