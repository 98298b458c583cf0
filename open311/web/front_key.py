"""The resident front's own API key: the pages submit through the public Open311 API like
any app, with a `submit` key named `resident-web` that only this front uses.

The key is derived from the gateway's SECRET_KEY (HMAC), so every process of one gateway
computes the same key without storing it anywhere; `WEB_API_KEY` (environment
`OPEN311_WEB_API_KEY`) sets it explicitly instead. The first page that needs it makes sure
the key table holds its digest (a changed secret replaces the digest: the old key stops;
`open311 keys revoke resident-web` turns the front's submissions off).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from flask import Flask
from sqlalchemy.exc import IntegrityError

from ..keys import KEY_PREFIX, register_key

NAME = "resident-web"


def front_key_value(app: Flask) -> str:
    explicit = app.config.get("WEB_API_KEY") or os.environ.get("OPEN311_WEB_API_KEY")
    if explicit:
        return str(explicit)
    secret = str(app.config["SECRET_KEY"]).encode()
    return KEY_PREFIX + hmac.new(secret, b"resident-web-front", hashlib.sha256).hexdigest()[:43]


def front_key(app: Flask) -> str:
    """The key, registered in the key table once per process."""
    cached: str | None = app.extensions.get("open311_front_key")
    if cached:
        return cached
    key = front_key_value(app)
    try:
        with app.extensions["open311"].db.write() as session, session.begin():
            register_key(session, NAME, key)
    except IntegrityError:
        pass  # another process registered the same key at the same moment
    app.extensions["open311_front_key"] = key
    return key
