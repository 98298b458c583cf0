"""WSGI middleware for what real clients send: sloppy URLs, chunked bodies."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from typing import Any

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


class ChunkedBodyLimit:
    """A chunked body (no Content-Length) is read here, up to one byte past the limit, and
    handed on with the Content-Length it turned out to have. Werkzeug stops reading such a
    body quietly at MAX_CONTENT_LENGTH, so a form over the limit was cut and the fields
    past the cut dropped; with the length known, the app refuses it with 413 in the
    requested format, as it refuses a body that announced its size."""

    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int | None) -> None:
        self.app = app
        self.limit = limit

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and self.limit is not None and not environ.get("CONTENT_LENGTH"):
            body = environ["wsgi.input"].read(self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            # The app gets the body decoded; werkzeug ignores Content-Length beside chunked.
            del environ["HTTP_TRANSFER_ENCODING"]
        return self.app(environ, start_response)
