"""Send each report as a plain-text mail to a department mailbox.

For agencies with no system to integrate with, a mailbox is the back-end. Mail has no way
back, so there are no status updates: staff close such reports in the gateway itself.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from adapters.base import Adapter, Receipt, Ticket
from adapters.common import TEXT_FIELDS, ticket_text_fields
from adapters.settings import Flag, Placeholders, Text
from adapters.smtp import MailAddress, MailAddresses, SmtpSender, SmtpSettingsSchema
from schemas.personal import PERSONAL_FIELDS

log = logging.getLogger(__name__)

DEFAULT_SUBJECT = "[Open311] {service_name} ({request_id})"
FALLBACK_DOMAIN = "open311-gateway.invalid"
_WHEN = "%Y-%m-%d %H:%M UTC"
# A subject is seen by every mail relay on the way: no personal fields in it.
SUBJECT_FIELDS = tuple(
    f for f in TEXT_FIELDS if f not in PERSONAL_FIELDS and f not in ("primary", "media_urls")
)


class EmailSettings(SmtpSettingsSchema):
    sender = MailAddress(required=True, data_key="from")
    to = MailAddresses(required=True)
    subject = Text(load_default=DEFAULT_SUBJECT, validate=Placeholders(SUBJECT_FIELDS))
    include_contact = Flag(load_default=True)


class EmailAdapter(Adapter):
    name = "email"
    settings_schema = EmailSettings

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        o = self.options
        self.smtp = SmtpSender.from_settings(o)
        self.host, self.port = self.smtp.host, self.smtp.port
        self.sender: str = o["sender"]
        self.recipients: list[str] = o["to"]
        # The envelope takes bare addresses; the headers keep any display names.
        self.envelope_sender = parseaddr(self.sender)[1]
        self.envelope_recipients = [parseaddr(a)[1] for a in self.recipients]
        self.subject: str = o["subject"]
        self.include_contact: bool = o["include_contact"]
        domain = self.envelope_sender.rpartition("@")[2].strip()
        self.domain = domain or FALLBACK_DOMAIN

    def submit(self, ticket: Ticket) -> Receipt:
        message = self.compose(ticket)
        refused = self.smtp.send(
            message, self.envelope_sender, self.envelope_recipients, what="submit"
        )
        if refused:
            log.warning("email: %d recipient(s) refused for %s", len(refused), ticket.request_id)
        return Receipt(backend_id=message["Message-ID"])

    def compose(self, ticket: Ticket) -> EmailMessage:
        fields = ticket_text_fields(ticket)
        message = EmailMessage()
        subject = self.subject.format_map(fields)
        # A line break in a header value would start a new header; descriptions can hold any.
        message["Subject"] = " ".join(subject.split())[:250]
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = self.message_id(ticket)
        message["X-Open311-Request-Id"] = ticket.request_id
        body = self.body(ticket)
        # Plain 7bit keeps the map link unbroken for staff who copy it out of the source;
        # the library would otherwise pick quoted-printable for any line over 78 characters.
        plain = body.isascii() and all(len(line) <= 998 for line in body.splitlines())
        message.set_content(body, cte="7bit" if plain else None)
        return message

    def message_id(self, ticket: Ticket) -> str:
        """Derived from the idempotency key: a second delivery of the same report carries the
        same Message-ID, so mail clients and staff can tell it is a repeat."""
        digest = hashlib.sha256(ticket.idempotency_key.encode("utf-8")).hexdigest()[:32]
        return f"<open311.{digest}@{self.domain}>"

    def body(self, ticket: Ticket) -> str:
        lines = ["A report was submitted through the Open311 gateway.", ""]
        service = ticket.service_name
        if ticket.service_code and ticket.service_code != ticket.service_name:
            service = f"{service} ({ticket.service_code})"
        rows = [
            ("Service", service),
            ("Request id", ticket.request_id),
            ("Submitted", ticket.requested_datetime.astimezone(UTC).strftime(_WHEN)),
            ("Address", ticket.address_string),
            ("Address id", ticket.address_id),
            ("Zip code", ticket.zipcode),
        ]
        if ticket.lat is not None and ticket.long is not None:
            rows.append(("Location", f"{ticket.lat:.6f}, {ticket.long:.6f}"))
            rows.append(("Map", osm_link(ticket.lat, ticket.long)))
        lines.extend(_rows(rows))
        if not ticket.primary:
            lines += ["", "This copy is for information; another agency handles the report."]
        lines += ["", *_section("Description", [ticket.description or "(none given)"])]
        if ticket.attributes:
            details = []
            for code, value in ticket.attributes.items():
                shown = ", ".join(value) if isinstance(value, list | tuple) else str(value)
                details.append(f"{code}: {shown}")
            lines += ["", *_section("Details", details)]
        if ticket.media_urls:
            lines += ["", *_section("Photos", list(ticket.media_urls))]
        if self.include_contact:
            c = ticket.contact
            name = " ".join(p for p in (c.first_name, c.last_name) if p)
            contact = _rows([("Name", name), ("Email", c.email), ("Phone", c.phone)])
            if contact:
                lines += ["", *_section("Reporter", contact)]
        lines += ["", f"-- \nSent by the Open311 gateway for {ticket.destination}."]
        return "\n".join(lines) + "\n"


def osm_link(lat: float, long: float) -> str:
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={long:.6f}#map=18/{lat:.6f}/{long:.6f}"
    )


def _rows(rows: list[tuple[str, str | None]]) -> list[str]:
    width = max((len(label) for label, value in rows if value), default=0) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in rows if value]


def _section(title: str, lines: list[str]) -> list[str]:
    return [title, "-" * len(title), *lines]
