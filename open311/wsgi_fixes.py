"""What real clients send: sloppy URLs (WSGI middleware), chunked bodies (a request hook)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest

_SLASHES = re.compile(r"/{2,}")


class MergeSlashes:
    """Clients join the endpoint and the resource with and without '/', so
    `/open311/v2//services.json` must answer like `/open311/v2/services.json` (for a
    POST too, where a redirect would lose clients that do not follow one)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = _SLASHES.sub("/", path)
        return self.app(environ, start_response)


def install_chunked_body_limit(app: Flask) -> None:
    """A chunked body (no Content-Length) is read up to one byte past the request's limit
    and handed on with the Content-Length it turned out to have. Werkzeug stops reading
    such a body quietly at the limit, so a form over it was cut and the fields past the
    cut dropped; with the length known, the app refuses it with 413 in the requested
    format, as it refuses a body that announced its size. A hook, not WSGI middleware,
    because the limit is the request's own (a POST with photos gets more room, set by a
    hook of open311/api/media.py that must run first), and before anything reads a body
    (the input guard, the rate limiter's key)."""

    @app.before_request
    def _whole_chunked_body() -> None:
        environ = request.environ
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        limit = request.max_content_length
        if not chunked or environ.get("CONTENT_LENGTH") or limit is None:
            return
        try:
            body = environ["wsgi.input"].read(limit + 1)
        except Exception as exc:  # the server's own framing error (a bad chunk), or EOF
            raise BadRequest() from exc
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        # The app gets the body decoded; werkzeug ignores Content-Length beside chunked.
        del environ["HTTP_TRANSFER_ENCODING"]
        for cached in ("content_length", "stream"):
            request.__dict__.pop(cached, None)
