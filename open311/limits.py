"""Rate limits with Flask-Limiter: report and update POSTs per api_key and per client
address, staff writes (staff API and staff pages) per key and per address, webhook pushes
and sign-ins per address, GETs per client address. In memory on the embedded default
(each gunicorn worker counts on its own); a Redis URL in the configuration shares the
counts across processes and hosts."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import TypeGuard

from flask import Flask, request
from flask.typing import ResponseReturnValue, RouteCallable
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .catalog import Catalog, ConfigError


def check_limits(catalog: Catalog) -> None:
    """Build the limit store and parse the limits as the app will, so that a bad
    `gateway.rate_limits` stops check-config and start-up with a clear ConfigError
    (instead of gunicorn's "Worker failed to boot")."""
    from limits import parse_many
    from limits.errors import ConfigurationError
    from limits.storage import storage_from_string

    settings = catalog.gateway.rate_limits
    if not settings["enabled"]:
        return
    where = f"{catalog.source}: gateway.rate_limits"
    uri = settings["storage_uri"]
    try:
        storage_from_string(uri)
    except ConfigurationError as exc:
        # The URI may hold a Redis password: name its scheme only.
        scheme = uri.split("://", 1)[0] if "://" in uri else "(none)"
        raise ConfigError(
            f"{where}.storage_uri: cannot use scheme {scheme!r} "
            f"(memory://, redis://, rediss://, …): {str(exc).replace(uri, '…')}"
        ) from None
    for key in ("submit", "read", "sign_in", "staff", "webhook"):
        try:
            parse_many(settings[key])
        except ValueError:
            raise ConfigError(
                f"{where}.{key}: {settings[key]!r} is not a limit like '30 per minute'"
            ) from None


def _key_of_api_key() -> str:
    from .api.params import presented_key

    key = presented_key()
    # Hash so the limiter's storage (Redis) never holds a usable key.
    return (
        "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
        if key
        else "nokey:" + (get_remote_address() or "?")
    )


def _is_get() -> bool:
    return request.method in ("GET", "HEAD")


def _plain_view(view: RouteCallable) -> TypeGuard[Callable[..., ResponseReturnValue]]:
    """Every view of the gateway is a plain function; limiting wraps it as one."""
    return not inspect.iscoroutinefunction(view)


def install_limits(app: Flask, catalog: Catalog) -> Limiter | None:
    settings = catalog.gateway.rate_limits
    if not settings["enabled"] or app.config.get("RATELIMIT_ENABLED") is False:
        return None
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings["storage_uri"],
        strategy="moving-window",
        headers_enabled=True,
        # A limit store that is down must not take the front door down with it.
        swallow_errors=True,
    )
    read = limiter.shared_limit(settings["read"], scope="read", exempt_when=lambda: not _is_get())
    submit_by_address = limiter.shared_limit(settings["submit"], scope="submit-address")
    submit_by_key = limiter.shared_limit(
        settings["submit"], scope="submit-key", key_func=_key_of_api_key
    )
    # Password guessing across many accounts from one address (each account also locks).
    sign_in = limiter.shared_limit(settings["sign_in"], scope="sign-in", exempt_when=_is_get)
    # Staff writes: a leaked staff key or a hijacked session must not rewrite a queue at
    # machine speed. Per key (a signed-in member has none: then per address) and address.
    staff_by_address = limiter.shared_limit(
        settings["staff"], scope="staff-address", exempt_when=_is_get
    )
    staff_by_key = limiter.shared_limit(
        settings["staff"], scope="staff-key", key_func=_key_of_api_key, exempt_when=_is_get
    )
    # Pushes are checked (HMAC) before anything is stored, but each costs a read of the
    # body and a hash: bounded per address, so a flood cannot crowd out the real back-end
    # (which pushes from an address of its own).
    webhook = limiter.shared_limit(settings["webhook"], scope="webhook", exempt_when=_is_get)
    for endpoint, view in list(app.view_functions.items()):
        # Health checks and scrapes come every few seconds from the same address.
        if endpoint == "static" or endpoint.startswith(("docs.", "ops.")):
            continue
        if not _plain_view(view):
            raise TypeError(f"{endpoint}: a coroutine view cannot be rate limited here")
        if endpoint == "staff_web.sign_in":
            app.view_functions[endpoint] = sign_in(read(view))
        elif endpoint in ("requests.create", "updates.post", "web.report_send"):
            # An app's updates and its reports share one submit budget per key and address
            # (the resident form without JavaScript creates through the API's own view).
            app.view_functions[endpoint] = submit_by_key(submit_by_address(view))
        elif endpoint.startswith(("staff.", "staff_web.")):
            app.view_functions[endpoint] = staff_by_key(staff_by_address(read(view)))
        elif endpoint.startswith("webhook."):
            app.view_functions[endpoint] = webhook(read(view))
        else:
            app.view_functions[endpoint] = read(view)
    return limiter
