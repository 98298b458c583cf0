"""The reporter's personal fields: the one definition.

Everything else is built from this class: the POST parameters a client may send
(schemas/requests.py), the staff view (schemas/staff.py), the `reporter_contact` table
(open311/models.py), the contact rules (`services[].contact.required`), log redaction,
the idempotency fingerprint, and the `Contact` an adapter is handed (adapters/base.py).
Adding a field here adds it everywhere (plus a new migration for the column).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Final


def _personal(max_length: int) -> str | None:
    return field(default=None, metadata={"max_length": max_length})


@dataclass(frozen=True)
class Contact:
    """The reporter's personal fields, present only where the service's contact rule allows."""

    email: str | None = _personal(320)
    phone: str | None = _personal(64)
    first_name: str | None = _personal(200)
    last_name: str | None = _personal(200)
    device_id: str | None = _personal(200)
    account_id: str | None = _personal(200)


PERSONAL_FIELDS: Final[tuple[str, ...]] = tuple(f.name for f in fields(Contact))
MAX_LENGTH: Final[dict[str, int]] = {f.name: f.metadata["max_length"] for f in fields(Contact)}
