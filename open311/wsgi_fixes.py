"""WSGI middleware for the URL habits of real Open311 clients."""

from __future__ import annotations

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
