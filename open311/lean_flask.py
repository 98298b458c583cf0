"""The gateway's Flask class: per-request work Flask repeats that can be done once.

An API GET runs about ten hooks and a view, and Flask asks `inspect.iscoroutinefunction`
of each one on every request (`ensure_sync`), and its cookie session builds a new
itsdangerous serializer on every request, whether or not a cookie came. Neither answer
changes while the process runs, so both are kept; what they return is what Flask would
have made (issue 13: the hooks' cost on API reads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CachedSerializerSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with the serializer made once per set of keys
    (SECRET_KEY and SECRET_KEY_FALLBACKS): it holds no per-request state."""

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        try:
            return self._serializers[keys]
        except KeyError:
            made = super().get_signing_serializer(app)
            self._serializers[keys] = made
            return made


class GatewayFlask(Flask):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_interface = CachedSerializerSessions()
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's answer for `func` (itself, or an async view wrapped), remembered: the
        functions are the app's hooks and views, a set fixed once the app is built. A
        function made per request (`after_this_request`, `copy_current_request_context`)
        would grow the store for ever, so it stops taking new ones at _SYNC_KEPT."""
        try:
            return self._sync[func]
        except KeyError:
            made = super().ensure_sync(func)
            if len(self._sync) < _SYNC_KEPT:
                self._sync[func] = made
            return made


# Far more than the app's hooks, views and error handlers (about 60).
_SYNC_KEPT = 1024
