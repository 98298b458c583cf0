"""Staff accounts: people at one agency who sign in to the staff pages.

Passwords are hashed with werkzeug's scrypt (salted, memory-hard); a password is never
stored or logged. Repeated failures lock the account for a while, so a password cannot be
guessed online; an unknown e-mail costs the same hashing time as a known one, so timing does
not tell which addresses have accounts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .catalog import Catalog
from .db import utcnow
from .keys import Caller
from .models import StaffUser

ROLES = ("staff", "admin")
MIN_PASSWORD = 12
MAX_FAILURES = 5  # consecutive failed sign-ins before the account locks
LOCKOUT = timedelta(minutes=15)
HASH_METHOD = "scrypt"
# Checked against when the e-mail is unknown, so both cases cost one scrypt.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16), method=HASH_METHOD)


class AccountError(ValueError):
    """A staff account could not be created or changed; the message says why."""


@dataclass(frozen=True)
class StaffMember:
    """Who is signed in: what the pages and the audit log need, no password hash."""

    id: int
    email: str
    agency: str
    role: str
    stamp: str  # changes with the password: a session made before a reset stops working

    def caller(self) -> Caller:
        """The same shape the staff API's keys give, so both share the queue's functions
        and the audit log names the person."""
        return Caller(key_id=0, name=self.email, role="staff", agency=self.agency)


def _member(row: StaffUser) -> StaffMember:
    stamp = hashlib.sha256(row.password_hash.encode()).hexdigest()[:16]
    return StaffMember(row.id, row.email, row.agency, row.role, stamp)


def normal_email(email: str) -> str:
    return email.strip().lower()


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, about 120 bits


def create_user(
    session: Session,
    catalog: Catalog,
    email: str,
    agency: str,
    role: str = "staff",
    password: str | None = None,
) -> str:
    """Create the account; returns its password (the one given, or a generated one).
    Raises AccountError for an unknown agency or role, a taken e-mail, a short password."""
    email = normal_email(email)
    if "@" not in email or len(email) > 320:
        raise AccountError("give the person's e-mail address")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if agency not in catalog.agencies:
        known = ", ".join(sorted(catalog.agencies))
        raise AccountError(f"unknown agency {agency!r}; the configuration has: {known}")
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise AccountError(f"an account for {email} exists already")
    password = password if password is not None else generate_password()
    _check_strength(password)
    session.add(
        StaffUser(
            email=email,
            agency=agency,
            role=role,
            password_hash=generate_password_hash(password, method=HASH_METHOD),
            failed_logins=0,
        )
    )
    return password


def _check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")


def set_password(session: Session, email: str, password: str | None = None) -> str:
    """Replace the password (and lift a lockout); returns it. Raises AccountError."""
    row = session.scalar(select(StaffUser).where(StaffUser.email == normal_email(email)))
    if row is None:
        raise AccountError(f"no account for {email}")
    password = password if password is not None else generate_password()
    _check_strength(password)
    row.password_hash = generate_password_hash(password, method=HASH_METHOD)
    row.failed_logins, row.locked_until = 0, None
    return password


def disable_user(session: Session, email: str) -> bool:
    row = session.scalar(select(StaffUser).where(StaffUser.email == normal_email(email)))
    if row is None or row.disabled_at is not None:
        return False
    row.disabled_at = utcnow()
    return True


def list_users(session: Session, agency: str | None = None) -> list[StaffUser]:
    stmt = select(StaffUser).order_by(StaffUser.agency, StaffUser.email)
    if agency:
        stmt = stmt.where(StaffUser.agency == agency)
    return list(session.scalars(stmt))


def colleagues(session: Session, agency: str) -> list[str]:
    """The e-mails of the agency's active accounts: whom a report can be assigned to."""
    return list(
        session.scalars(
            select(StaffUser.email)
            .where(StaffUser.agency == agency, StaffUser.disabled_at.is_(None))
            .order_by(StaffUser.email)
        )
    )


class SignInRefused(Exception):
    """Wrong e-mail or password, a disabled account, or a locked one (`locked` is True):
    the page says the same for the first three."""

    def __init__(self, locked: bool = False) -> None:
        super().__init__("locked" if locked else "refused")
        self.locked = locked


def sign_in(session: Session, email: str, password: str) -> StaffMember:
    """The member when the password is right. Raises SignInRefused; counts the failure and
    locks the account for LOCKOUT after MAX_FAILURES in a row."""
    row = session.scalar(select(StaffUser).where(StaffUser.email == normal_email(email)))
    now = utcnow()
    if row is None or row.disabled_at is not None:
        check_password_hash(_DUMMY_HASH, password)
        raise SignInRefused()
    if row.locked_until is not None and row.locked_until > now:
        # Not even a right password opens a locked account: guessing gains nothing.
        raise SignInRefused(locked=True)
    if not check_password_hash(row.password_hash, password):
        row.failed_logins = (row.failed_logins or 0) + 1
        if row.failed_logins >= MAX_FAILURES:
            row.failed_logins, row.locked_until = 0, now + LOCKOUT
            raise SignInRefused(locked=True)
        raise SignInRefused()
    row.failed_logins, row.locked_until, row.last_login_at = 0, None, now
    return _member(row)


def active_member(session: Session, user_id: int, stamp: str) -> StaffMember | None:
    """The member behind a session, or None once the account is disabled, gone, or its
    password changed since the session began."""
    row = session.get(StaffUser, user_id)
    if row is None or row.disabled_at is not None:
        return None
    member = _member(row)
    return member if hmac.compare_digest(member.stamp, stamp) else None
