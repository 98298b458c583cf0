"""The staff pages at /staff/: people at an agency sign in and work its queue.

`install(app)` sets the session cookie (Secure, HttpOnly, SameSite=Lax; Secure can be
turned off only for the plain-http demo), CSRF protection for every form of these pages
(Flask-WTF), and registers the blueprint from views.py. The API keeps its api_key and
stays free of cookies and CSRF tokens: only this blueprint checks them.
"""

from __future__ import annotations

import os
from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def install(app: Flask) -> None:
    """Settings (app.config, else the environment): SECRET_KEY / OPEN311_SECRET_KEY
    (create_app), STAFF_COOKIE_SECURE / OPEN311_STAFF_COOKIE_SECURE (default on),
    STAFF_SESSION_HOURS / OPEN311_STAFF_SESSION_HOURS (default 8)."""
    # Without a configured secret the staff pages answer 503 (views.py): create_app's
    # per-process random key would sign people out at random between worker processes.
    app.config["STAFF_PAGES_ENABLED"] = bool(
        app.config.get("TESTING") or not app.config.get("SECRET_KEY_IS_RANDOM")
    )
    secure = app.config.get("STAFF_COOKIE_SECURE")
    if secure is None:
        secure = _flag(os.environ.get("OPEN311_STAFF_COOKIE_SECURE"), True)
    hours = float(
        app.config.get("STAFF_SESSION_HOURS") or os.environ.get("OPEN311_STAFF_SESSION_HOURS") or 8
    )
    app.config.update(
        SESSION_COOKIE_NAME="open311_staff",
        SESSION_COOKIE_SECURE=bool(secure),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=hours),
        # Only the staff blueprint checks tokens (views.py calls csrf.protect()): the API's
        # POSTs carry an api_key, not a cookie, so a forged cross-site form gains nothing.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    csrf.init_app(app)
    from .views import bp

    app.register_blueprint(bp)
