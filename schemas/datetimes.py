"""Reading and writing date-times: the one place the gateway's time formats are decided.

Everything the gateway writes (API answers, back-end bodies, the simulator's feed) is W3C
/ ISO 8601 in UTC with a `Z`; everything it reads is taken leniently (offsets, fractions,
`Z`, a `+` sent as a space) and a time without a zone is UTC, never the server's zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

# An unencoded '+' in a query string arrives as a space: "…T10:00:00 05:00".
_SPACE_FOR_PLUS = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")
# Python's parser takes at most microseconds; .NET back-ends send seven digits.
_FRACTION = re.compile(r"(\.\d{6})\d+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")

Precision = Literal["seconds", "milliseconds", "microseconds"]

# The dates a client may send. Far enough inside datetime's own limits (years 1 and 9999)
# that a query's default window (90 days from a bound) and an offset's conversion to UTC
# cannot overflow, and stored alike by SQLite and PostgreSQL: outside them a date is a
# mistake (9999-12-01, 0001-01-05), answered 400, never a filter.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_w3c(value: datetime, precision: Precision = "seconds") -> str:
    """UTC with a `Z`; whole seconds unless asked otherwise (the form every validator accepts).

    Finer precision is for feeds read by `updated_since` pollers, where two changes in the
    same second must stay distinguishable.
    """
    return as_utc(value).isoformat(timespec=precision).removesuffix("+00:00") + "Z"


def parse_w3c(text: str) -> datetime:
    """Lenient W3C/ISO 8601 as an aware UTC datetime; ValueError when it is not one."""
    value = _SPACE_FOR_PLUS.sub(r"\1+\2", text.strip())
    value = _FRACTION.sub(r"\1", value)
    if value.endswith("z"):
        value = value[:-1] + "Z"
    try:
        return as_utc(datetime.fromisoformat(value))
    except OverflowError as exc:
        # 0001-01-01T00:00:00+01:00 is a valid spelling of a moment before year 1.
        raise ValueError(f"{text!r} is outside the years datetime can hold") from exc


def within_range(value: datetime) -> datetime:
    """`value` (aware) when it lies in EARLIEST..LATEST; ValueError otherwise."""
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"{value.isoformat()} is outside {EARLIEST.year}..{LATEST.year}")
    return value


def parse_datetime(value: Any) -> datetime | None:
    """A back-end's timestamp read leniently: W3C/ISO, RFC 2822, epoch seconds or
    milliseconds; an aware UTC datetime, or None when it is none of these."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return parse_w3c(text)
    except ValueError:
        pass
    if _NUMBER.fullmatch(text):
        return _from_epoch(float(text))
    try:
        return as_utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        return None


def _from_epoch(number: float) -> datetime | None:
    # Anything past the year 5138 in seconds is surely milliseconds.
    if abs(number) > 1e11:
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
