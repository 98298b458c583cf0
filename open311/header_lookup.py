"""A header's value, or None when it is absent, without the exception werkzeug raises
inside for an absent one.

In Werkzeug 3.1, `headers.get(name)` and `name in headers` look the name up through
`_get_key`, which raises when it is not there and has the exception caught: on a
response's `Headers` a BadRequestKeyError (a KeyError that is also an HTTP exception), on
a request's `EnvironHeaders` the plain KeyError of the WSGI environ's lookup. The
hooks that run on every answer mostly ask for headers that are absent (Location,
Cache-Control, ETag on the response; an API key, If-None-Match on the request), so they
read them here: a response's by scanning its short list, a request's straight from the
environ, where `EnvironHeaders` keeps them. (`EnvironHeaders.getlist` does not raise, but
walks the whole environ.)
"""

from __future__ import annotations

import functools

from werkzeug.datastructures import EnvironHeaders, Headers


def header(headers: Headers, name: str) -> str | None:
    """The first value of the header `name` (in any case) in `headers`, or None."""
    if isinstance(headers, EnvironHeaders):
        value: str | None = headers.environ.get(_environ_key(name))
        return value
    lowered = name.lower()
    for key, value in headers:
        if key.lower() == lowered:
            return value
    return None


@functools.cache  # a few constant names, asked for on every answer
def _environ_key(name: str) -> str:
    """Where the WSGI environ keeps a request header (as EnvironHeaders looks it up)."""
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"
