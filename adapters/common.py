"""Small pieces several adapters share: the ticket as plain data, lenient date parsing,
dotted paths into decoded answers, and mapping a back-end's status words to open/closed."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from adapters.base import Contact, Ticket
from adapters.config import SettingsReader

log = logging.getLogger(__name__)

CONTACT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Contact))
TICKET_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Ticket))
STATUSES = ("open", "closed")

# Marks "nothing at this path", which differs from a JSON null found there.
MISSING: Any = object()


def iso_z(value: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a `Z`, the form most back-ends accept."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def ticket_as_dict(ticket: Ticket) -> dict[str, Any]:
    """The ticket as JSON-ready data: datetimes as ISO `Z`, mappings and sequences as plain ones."""
    data = asdict(ticket)
    data["requested_datetime"] = iso_z(ticket.requested_datetime)
    data["attributes"] = {
        str(k): (list(v) if isinstance(v, list | tuple) else v)
        for k, v in ticket.attributes.items()
    }
    data["media_urls"] = list(ticket.media_urls)
    return data


def ticket_text_fields(ticket: Ticket) -> dict[str, str]:
    """Every scalar ticket field as text ("" when absent), for text templates.

    Contact fields are flattened (`email`, not `contact.email`) and `media_url` is the first
    photo, which is what a template for a single-photo system wants.
    """
    data = ticket_as_dict(ticket)
    contact = data.pop("contact")
    data.pop("attributes")
    media = data.pop("media_urls")
    out = {k: _text(v) for k, v in data.items()}
    out.update({k: _text(contact.get(k)) for k in CONTACT_FIELDS})
    out["media_url"] = media[0] if media else ""
    out["media_urls"] = " ".join(media)
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_datetime(value: Any) -> datetime | None:
    """Read a back-end's timestamp leniently; answer an aware UTC datetime or None.

    Back-ends disagree about formats (ISO with or without zone, RFC 2822, epoch seconds or
    milliseconds). A value without a zone is taken as UTC: guessing the server's local zone
    would be worse than being consistently off for the few that send local time.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float):
        parsed = _from_epoch(float(value))
        if parsed is None:
            return None
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        parsed_or_none = _parse_text(text)
        if parsed_or_none is None:
            return None
        parsed = parsed_or_none
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _from_epoch(number: float) -> datetime | None:
    # Anything past the year 5138 in seconds is surely milliseconds.
    if abs(number) > 1e11:
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _parse_text(text: str) -> datetime | None:
    candidate = text
    # Python's parser takes at most microseconds; .NET back-ends send seven digits.
    candidate = _FRACTION.sub(r"\1", candidate)
    if candidate.endswith(("z", "Z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        pass
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return _from_epoch(float(text))
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def get_path(data: Any, path: str) -> Any:
    """Follow a dotted path (`data.items.0.id`) through dicts and lists; MISSING if absent."""
    current = data
    if path in ("", "."):
        return current
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, list | tuple) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def scalar_text(value: Any) -> str | None:
    """A scalar found in an answer as text; None for absent, null, empty or non-scalar values."""
    if value is MISSING or value is None or isinstance(value, Mapping | list | tuple):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        # An id decoded from JSON as 42.0 is the work order "42", not "42.0".
        value = int(value)
    text = str(value).strip()
    return text or None


class StatusMap:
    """Turns a back-end's own status words into the gateway's open/closed.

    A word the map does not know still comes through as "open" with the word kept as
    detailed_status: a new status invented by the back-end must not silently close a
    report, and staff can see what the back-end said.
    """

    def __init__(self, reader: SettingsReader, key: str = "value_map") -> None:
        raw = reader.raw(key, {})
        if not isinstance(raw, Mapping):
            raise reader.error(key, "must be a mapping of back-end value to open or closed")
        self._exact: dict[str, str] = {}
        self._folded: dict[str, str] = {}
        for backend_value, status in raw.items():
            target = str(status).strip().lower() if isinstance(status, str) else None
            if target not in STATUSES:
                raise reader.error(
                    f"{key}.{backend_value}", f"must be 'open' or 'closed', not {status!r}"
                )
            # YAML reads `1: closed` with an int key; the back-end's answer may be "1" or 1.
            text = (
                "true"
                if backend_value is True
                else "false"
                if backend_value is False
                else str(backend_value)
            )
            self._exact[text] = target
            self._folded[text.casefold()] = target

    def map(self, value: str) -> tuple[str, bool]:
        """(open|closed, whether the value was recognised)."""
        if value in self._exact:
            return self._exact[value], True
        folded = value.strip().casefold()
        if folded in self._folded:
            return self._folded[folded], True
        if folded in STATUSES:
            return folded, True
        return "open", False
