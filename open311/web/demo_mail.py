"""`/demo/mail`: the mails the demo's mail catcher caught (open311/demo/mailcatcher.py),
newest first, so a newcomer sees the updates a report brought without a mail program.
Only `open311 demo` turns it on (DEMO_MAIL_FOLDER); elsewhere the page is a 404."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import abort, current_app, render_template

from . import bp

_LINK = re.compile(r"https?://\S+")
SHOWN = 50


def _pieces(text: str) -> list[tuple[str, bool]]:
    """The text cut into (piece, is_link), so the template can link the URLs and escape
    everything."""
    out: list[tuple[str, bool]] = []
    at = 0
    for match in _LINK.finditer(text):
        out += [(text[at : match.start()], False), (match.group(), True)]
        at = match.end()
    return [*out, (text[at:], False)]


def _read(path: Path) -> dict[str, Any]:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    return {
        "name": path.name,
        "subject": str(message.get("Subject", "")),
        "to": str(message.get("To", "")),
        "date": str(message.get("Date", "")),
        "unsubscribe": str(message.get("List-Unsubscribe", "")),
        "pieces": _pieces(text),
    }


@bp.get("/demo/mail")
def demo_mail() -> Any:
    folder = current_app.config.get("DEMO_MAIL_FOLDER")
    if not folder:
        abort(404)
    files = sorted(Path(folder).glob("*.eml"), reverse=True)[:SHOWN]
    return render_template("web/demo_mail.html", mails=[_read(p) for p in files], folder=folder)
