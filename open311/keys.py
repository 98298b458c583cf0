"""API keys: shown once, stored as SHA-256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from .db import utcnow
from .models import ApiKey

ROLES = ("submit", "staff", "admin")
KEY_PREFIX = "o311_"


@dataclass(frozen=True)
class Caller:
    """Who made a request: a key's name, role and (for staff) agency."""

    key_id: int
    name: str
    role: str
    agency: str | None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, name: str, role: str = "submit", agency: str | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "staff" and not agency:
        raise ValueError("a staff key is bound to one agency: give --agency")
    if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
        raise ValueError(f"a key named {name!r} exists already")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, prefix=key[:12], key_hash=_digest(key), role=role, agency=agency))
    return key


def register_key(session: Session, name: str, key: str, role: str = "submit") -> None:
    """Make `key` (chosen by the caller, e.g. derived from a secret) the key named `name`:
    inserted when new, its digest replaced when the key changed. A revoked key stays
    revoked: an operator's `keys revoke` wins over the process that derives it."""
    digest = _digest(key)
    row = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None:
        session.add(ApiKey(name=name, prefix=key[:12], key_hash=digest, role=role))
    elif row.revoked_at is None and (row.key_hash != digest or row.role != role):
        row.key_hash, row.prefix, row.role = digest, key[:12], role


# Every keyed request runs it: the columns a Caller needs, one statement built once.
_BY_DIGEST = select(
    ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.agency, ApiKey.key_hash, ApiKey.revoked_at
).where(ApiKey.key_hash == bindparam("digest"))


def authenticate(session: Session | Connection, presented: str | None) -> Caller | None:
    if not presented:
        return None
    digest = _digest(presented)
    # The lookup is by digest (an index), so timing reveals nothing of the key; the
    # compare_digest below keeps the final check constant-time as well.
    row = session.execute(_BY_DIGEST, {"digest": digest}).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, digest):
        return None
    return Caller(row.id, row.name, row.role, row.agency)


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.name)))


def revoke_key(session: Session, name: str) -> bool:
    row = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True
