"""The resident pages: report a problem at `/`, follow it at `/track/<id>`, stop the
updates at `/notifications/stop/<token>`.

Server-rendered Jinja templates (`templates/web/`), one stylesheet and one small script
under `open311/static/web/`, nothing loaded from another origin. The pages submit through
the gateway's own Open311 API with the front's key (`open311/web/front_key.py`). Errors on
these pages are HTML pages; the API keeps its Open311 error lists (`open311/errors.py`).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app
from flask_babel import get_locale

from ..i18n import remember_language

bp = Blueprint("web", __name__, template_folder="templates")

# Scripts, styles, images and connections from this origin only; photos previewed from
# blob: URLs; no inline script. Map tiles, when an operator configures them, add their origin.
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def page_headers(response: Response) -> Response:
    """Security headers for an HTML page (shared with the staff pages)."""
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return remember_language(response)


bp.after_request(page_headers)


def install_pages(app: Flask) -> None:
    """Register the resident pages and the values every page template uses."""
    from . import demo_mail, stop, views  # noqa: F401  (routes register on bp)

    app.register_blueprint(bp)

    @app.context_processor
    def _page_globals() -> dict[str, object]:
        catalog = current_app.extensions["open311"].catalog
        default = catalog.gateway.default_jurisdiction
        home = catalog.jurisdictions.get(default) if default else None
        return {
            "current_locale": str(get_locale() or "en"),
            "site_name": home.name if home else "Open311",
            "site_contact": catalog.gateway.contact,
        }
