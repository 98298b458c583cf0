"""Text no request may carry: bytes that are not UTF-8, and the NUL character.

Checked once, before any view reads a parameter, for every path (API, resident pages,
staff pages). werkzeug would otherwise pass them on in three different ways: invalid
bytes in a query string stay percent-encoded text, invalid bytes in a url-encoded body
make the whole form silently empty (a POST then looked as if it had no api_key), and
invalid bytes in a multipart field become U+FFFD. A NUL reaches the database, where
PostgreSQL refuses it in any text value, even in a WHERE clause: an id, a filter or a
cursor with %00 answered 500. What free text may hold beyond this (no other control
characters) is the schemas' rule (schemas/fields.py `Text`).
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Flask, request
from werkzeug.exceptions import BadRequest

from .errors import APIError

# What werkzeug makes of undecodable bytes in a multipart field (errors="replace").
_REPLACEMENT = "\ufffd"


class Refused(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


def install_input_guard(app: Flask, api_prefix: str) -> None:
    @app.before_request
    def _guard() -> None:
        try:
            _check_request()
        except Refused as exc:
            message = f"{exc} Send UTF-8 text without NUL characters."
            if request.path.startswith(api_prefix):
                raise APIError(400, message) from exc
            raise BadRequest(message) from exc


def _check_request() -> None:
    # PATH_INFO is the decoded path's bytes as latin-1 (PEP 3333); a server (and werkzeug's
    # test client) may already have replaced invalid bytes, and no id holds U+FFFD.
    path = request.environ.get("PATH_INFO", "").encode("latin-1", "replace")
    _check_text("The path", path)
    if _REPLACEMENT.encode() in path:
        raise Refused("The path", "not valid UTF-8.")
    _check_urlencoded(request.query_string, "the query string")
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    if request.mimetype == "application/x-www-form-urlencoded":
        _check_urlencoded(request.get_data(cache=True), "the form")
    elif request.mimetype == "multipart/form-data":
        for name, value in request.form.items(multi=True):
            label = _label(name or "", "the form")
            for text in (name or "", value):
                if _REPLACEMENT in text:
                    raise Refused(label, "not valid UTF-8.")
                if "\x00" in text:
                    raise Refused(label, "holds a NUL character.")
    elif request.is_json:
        # A raw NUL cannot be in JSON text; an escaped one is the schemas' to refuse.
        _check_text("The JSON body", request.get_data(cache=True), nul_allowed=True)


def _check_urlencoded(raw: bytes, where: str) -> None:
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        decoded_name = _decoded(name)
        label = _label(decoded_name.decode("utf-8", "replace"), where)
        _check_text(label, decoded_name)
        _check_text(label, _decoded(value))


def _label(name: str, where: str) -> str:
    """The parameter as the message names it: printable, and short whatever was sent."""
    shown = "".join(c if c.isprintable() else "?" for c in name[:60])
    return f"{shown} (in {where})"


def _decoded(part: bytes) -> bytes:
    return unquote_to_bytes(part.replace(b"+", b" "))


def _check_text(where: str, data: bytes, nul_allowed: bool = False) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(where, "not valid UTF-8.") from exc
    if "\x00" in text and not nul_allowed:
        raise Refused(where, "holds a NUL character.")
