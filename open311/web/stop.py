"""`/notifications/stop/<token>`: the link in every update to the reporter.

GET shows what the link stops and a confirmation button, and changes nothing (mail
scanners and link previews open links on their own). The button's POST carries a CSRF
token like the staff pages' forms. A mail program's one-click unsubscribe (RFC 8058) POSTs
`List-Unsubscribe=One-Click` to the same address with no cookie and no page: the signed
token is then the whole proof, as the RFC intends, so that POST needs no CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template, request
from flask_wtf.csrf import CSRFError

from ..gateway import Gateway
from ..notifications import read_stop_token, stop
from ..staff_web import csrf
from . import bp

ONE_CLICK = "One-Click"


def _number(token: str) -> str | None:
    return read_stop_token(str(current_app.config["SECRET_KEY"]), token)


@bp.get("/notifications/stop/<token>")
def stop_confirm(token: str) -> Any:
    number = _number(token)
    if number is None:
        return render_template("web/stop.html", invalid=True), 404
    return render_template("web/stop.html", number=number, token=token)


@bp.post("/notifications/stop/<token>")
def stop_updates(token: str) -> Any:
    number = _number(token)
    if number is None:
        return render_template("web/stop.html", invalid=True), 404
    if request.form.get("List-Unsubscribe") != ONE_CLICK:
        try:
            csrf.protect()
        except CSRFError:
            return render_template("web/stop.html", number=number, token=token, expired=True), 400
    gw: Gateway = current_app.extensions["open311"]
    with gw.db.write() as session, session.begin():
        stop(session, number)
    return render_template("web/stop.html", number=number, stopped=True)
