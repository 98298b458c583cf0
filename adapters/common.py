"""Small pieces several adapters share: the ticket as plain data, dotted paths into decoded
answers, and mapping a back-end's status words to open/closed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from adapters.base import Ticket
from adapters.config import SettingsReader
from schemas.datetimes import format_w3c
from schemas.personal import PERSONAL_FIELDS

log = logging.getLogger(__name__)

CONTACT_FIELDS = PERSONAL_FIELDS
TICKET_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Ticket))
STATUSES = ("open", "closed")

# Marks "nothing at this path", which differs from a JSON null found there.
MISSING: Any = object()


def ticket_as_dict(ticket: Ticket) -> dict[str, Any]:
    """The ticket as JSON-ready data: datetimes as ISO `Z`, mappings and sequences as plain ones."""
    data = asdict(ticket)
    data["requested_datetime"] = format_w3c(ticket.requested_datetime)
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
