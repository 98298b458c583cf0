"""Small pieces several adapters share: the ticket as plain data and as template text, and
dotted paths into decoded answers. (Status words: adapters/status.py.)"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from adapters.base import Ticket
from schemas.datetimes import format_w3c
from schemas.personal import PERSONAL_FIELDS

log = logging.getLogger(__name__)

CONTACT_FIELDS = PERSONAL_FIELDS
TICKET_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Ticket))
# The names ticket_text_fields() gives, i.e. what a text template may use.
TEXT_FIELDS: tuple[str, ...] = (
    *(f for f in TICKET_FIELDS if f not in ("contact", "attributes")),
    *CONTACT_FIELDS,
    "media_url",
)

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
