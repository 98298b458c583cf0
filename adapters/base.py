"""The adapter contract: plain data in, plain data out, no knowledge of the gateway.

An adapter is to a back-end what a `requests` transport adapter is to a URL prefix: a
small object built from its settings that knows how to hand a report to one kind of
system and how to read back what happened to it. The gateway's worker calls `submit`
once per delivery (again only after a failure) and the sync loop calls
`fetch_updates` with the references it holds for that destination.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from marshmallow import Schema

from adapters.settings import load_settings
from schemas.personal import Contact

__all__ = [
    "Adapter",
    "Contact",
    "DeliveryError",
    "PermanentFailure",
    "Receipt",
    "Reference",
    "TemporaryFailure",
    "Ticket",
    "Update",
    "UpdateTicket",
]


@dataclass(frozen=True)
class Ticket:
    """One report as handed to one destination."""

    request_id: str  # the gateway's service_request_id
    idempotency_key: str  # stable for this (request, destination); send it on every try
    destination: str  # the agency id from the configuration
    jurisdiction_id: str
    service_code: str
    service_name: str
    requested_datetime: datetime  # aware, UTC
    description: str | None = None
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    attributes: Mapping[str, str | list[str]] = field(default_factory=dict)
    media_urls: Sequence[str] = ()
    contact: Contact = field(default_factory=Contact)
    primary: bool = True  # False for a copy sent for information


@dataclass(frozen=True)
class UpdateTicket:
    """A comment or status the app that filed a report sent later (POST
    servicerequestupdates), as handed to the report's owning destination."""

    request_id: str  # the gateway's service_request_id
    backend_id: str | None  # the destination's id for the report (its receipt)
    update_id: str  # the gateway's id for this update
    idempotency_key: str  # stable for this (update, destination); send it on every try
    destination: str
    jurisdiction_id: str
    updated_datetime: datetime  # aware, UTC: when the gateway accepted it
    status: str | None = None  # "open" or "closed" when the app sent a status
    detailed_status: str | None = None  # the app's own word, e.g. "fixed", "reopen"
    description: str | None = None
    media_url: str | None = None
    contact: Contact = field(default_factory=Contact)  # always empty: updates carry none


@dataclass(frozen=True)
class Receipt:
    """What a back-end answered to a submission."""

    backend_id: str | None = None
    # Upstream Open311 batch services answer a token first; the id comes later.
    backend_token: str | None = None
    status: str | None = None  # "open" or "closed" when the back-end says so at once
    detailed_status: str | None = None
    status_notes: str | None = None


@dataclass(frozen=True)
class Reference:
    """What the gateway knows of one delivered report, for status look-ups."""

    backend_id: str | None
    backend_token: str | None = None


@dataclass(frozen=True)
class Update:
    """A change a back-end made to a report."""

    backend_id: str
    status: str  # "open" or "closed"
    updated_datetime: datetime  # aware, UTC
    detailed_status: str | None = None
    status_notes: str | None = None
    agency_responsible: str | None = None
    expected_datetime: datetime | None = None
    backend_token: str | None = None  # set when this update resolves a token to backend_id
    update_id: str | None = None  # the back-end's own id for this change, when it has one


class DeliveryError(Exception):
    """A submission or a look-up failed. `retryable` says whether trying later may help."""

    retryable: ClassVar[bool] = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TemporaryFailure(DeliveryError):
    """The back-end is down, slow, overloaded or answered nonsense: try again later."""

    retryable = True


class PermanentFailure(DeliveryError):
    """The back-end refused the report for good (a 4xx, a bad configuration)."""

    retryable = False


class Adapter:
    """Base class: subclasses set `name` and `settings_schema` and implement `submit`."""

    name: ClassVar[str] = ""
    # The marshmallow schema (adapters.settings.SettingsSchema) the agency's `settings:`
    # are loaded through, here and by the configuration loader, which reports what is
    # wrong by key path. None: the adapter takes the plain mapping and checks it itself.
    settings_schema: ClassVar[type[Schema] | None] = None
    # Whether fetch_updates needs the references (per-id look-ups) or reads a feed by time.
    # An instance attribute with a class default: an adapter whose settings choose between
    # the two sets it in __init__.
    needs_references: bool = False
    # Whether submit_update hands an app's later comment or status to the back-end. When
    # False the gateway keeps such updates for the agency's staff and sends nothing.
    accepts_updates: ClassVar[bool] = False

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        """Raises SettingsError (a ValueError) naming each wrong key."""
        self.settings: Mapping[str, Any] = dict(settings or {})
        # The settings as the schema loaded them: typed, defaults filled in.
        self.options: dict[str, Any] = (
            load_settings(self.name, self.settings_schema, settings)
            if self.settings_schema is not None
            else dict(self.settings)
        )

    def submit(self, ticket: Ticket) -> Receipt:
        raise NotImplementedError

    def submit_update(self, ticket: UpdateTicket) -> Receipt:
        """Hand an app's update on a delivered report to the back-end (when
        `accepts_updates`); the receipt's backend_id is the back-end's id for the update."""
        raise NotImplementedError

    def fetch_updates(self, since: datetime, references: Sequence[Reference] = ()) -> list[Update]:
        """Changes made at or after `since`. Back-ends that cannot report any answer []."""
        return []

    def close(self) -> None:
        """Release connections; called when the worker stops."""
