"""Send each report as a plain-text mail to a department mailbox.

For agencies with no system to integrate with, a mailbox is the back-end. Mail has no way
back, so there are no status updates: staff close such reports in the gateway itself.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import socket
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from adapters.base import (
    Adapter,
    DeliveryError,
    PermanentFailure,
    Receipt,
    TemporaryFailure,
    Ticket,
)
from adapters.common import ticket_text_fields
from adapters.config import SettingsReader, check_format_template
from adapters.deadline import Deadline
from adapters.http import read_timeout

log = logging.getLogger(__name__)

SETTINGS = (
    "host",
    "port",
    "starttls",
    "ssl",
    "username",
    "password",
    "from",
    "to",
    "subject",
    "include_contact",
    "timeout",
)
DEFAULT_SUBJECT = "[Open311] {service_name} ({request_id})"
FALLBACK_DOMAIN = "open311-gateway.invalid"
_WHEN = "%Y-%m-%d %H:%M UTC"


class _WatchedSMTP(smtplib.SMTP):
    """smtplib's client with its socket under a deadline from the moment it is connected,
    so a greeting that drips is cut too; made without a host, so connecting (bounded by the
    connect timeout) is a separate step, and every later socket operation is bounded by the
    read timeout."""

    def __init__(self, deadline: Deadline, read: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline
        self.read_timeout = read

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self.deadline.watch(sock)
        sock.settimeout(self.read_timeout)
        self.timeout = self.read_timeout
        return sock


class _WatchedSMTPSSL(_WatchedSMTP, smtplib.SMTP_SSL):
    pass


class EmailAdapter(Adapter):
    name = "email"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        reader = SettingsReader(self.name, self.settings, allowed=SETTINGS)
        self.host = reader.require_str("host").strip()
        self.use_ssl = reader.get_bool("ssl", False)
        self.starttls = reader.get_bool("starttls", False)
        if self.use_ssl and self.starttls:
            raise reader.error("starttls", "cannot be combined with 'ssl' (pick one)")
        self.port = reader.get_int("port", 465 if self.use_ssl else 25, minimum=1, maximum=65535)
        self.username = reader.get_str("username")
        self.password = reader.get_str("password")
        if (self.username is None) != (self.password is None):
            raise reader.error("password" if self.username else "username", "is required too")
        self.sender = _address(reader, "from", reader.require_str("from"))
        self.recipients = [
            _address(reader, "to", a) for a in reader.get_str_list("to", required=True)
        ]
        # The envelope takes bare addresses; the headers keep any display names.
        self.envelope_sender = parseaddr(self.sender)[1]
        self.envelope_recipients = [parseaddr(a)[1] for a in self.recipients]
        self.subject = reader.get_str("subject", default=DEFAULT_SUBJECT) or DEFAULT_SUBJECT
        check_format_template(reader, "subject", self.subject, _SUBJECT_FIELDS)
        self.include_contact = reader.get_bool("include_contact", True)
        # smtplib takes one timeout for connecting and one for every later socket operation;
        # the total is a deadline over the whole conversation (adapters/deadline.py), since
        # a server that drips its replies would reset a socket timeout with every byte.
        self.timeouts = read_timeout(reader)
        domain = self.envelope_sender.rpartition("@")[2].strip()
        self.domain = domain or FALLBACK_DOMAIN

    def submit(self, ticket: Ticket) -> Receipt:
        message = self.compose(ticket)
        deadline = Deadline(self.timeouts.total)
        try:
            with deadline:
                refused = self._send(message, deadline)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _recipients_failure(exc.recipients) from exc
        except smtplib.SMTPNotSupportedError as exc:
            # STARTTLS or AUTH asked for but not offered: a configuration problem.
            raise PermanentFailure(f"submit: {self.host}:{self.port}: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _reply_failure(exc.smtp_code, exc.smtp_error, self.host) from exc
        except (smtplib.SMTPException, OSError) as exc:
            if deadline.expired:
                raise TemporaryFailure(
                    f"submit: mail to {self.host}:{self.port} timed out: not done within "
                    f"{self.timeouts.total:g}s (the total deadline)"
                ) from exc
            # Refused connections, timeouts, TLS trouble, a server hanging up.
            raise TemporaryFailure(
                f"submit: mail to {self.host}:{self.port} failed ({type(exc).__name__}: {exc})"
            ) from exc
        if refused:
            log.warning("email: %d recipient(s) refused for %s", len(refused), ticket.request_id)
        return Receipt(backend_id=message["Message-ID"])

    def _send(self, message: EmailMessage, deadline: Deadline) -> dict[str, tuple[int, bytes]]:
        context = ssl.create_default_context()
        connect = min(self.timeouts.connect, max(0.001, deadline.remaining()))
        client: smtplib.SMTP
        if self.use_ssl:
            client = _WatchedSMTPSSL(deadline, self.timeouts.read, timeout=connect, context=context)
        else:
            client = _WatchedSMTP(deadline, self.timeouts.read, timeout=connect)
        with client:
            client.connect(self.host, self.port)
            if self.starttls:
                client.starttls(context=context)
                deadline.watch(client.sock)  # the TLS socket replaced the plain one
            if self.username is not None and self.password is not None:
                client.login(self.username, self.password)
            return client.send_message(
                message, from_addr=self.envelope_sender, to_addrs=self.envelope_recipients
            )

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


_SUBJECT_FIELDS = (
    "request_id",
    "idempotency_key",
    "destination",
    "jurisdiction_id",
    "service_code",
    "service_name",
    "requested_datetime",
    "description",
    "lat",
    "long",
    "address_string",
    "address_id",
    "zipcode",
    "media_url",
)


def osm_link(lat: float, long: float) -> str:
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={long:.6f}#map=18/{lat:.6f}/{long:.6f}"
    )


def _rows(rows: list[tuple[str, str | None]]) -> list[str]:
    width = max((len(label) for label, value in rows if value), default=0) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in rows if value]


def _section(title: str, lines: list[str]) -> list[str]:
    return [title, "-" * len(title), *lines]


def _address(reader: SettingsReader, key: str, value: str) -> str:
    address = parseaddr(value)[1]
    if "@" not in address or any(c in value for c in "\r\n"):
        raise reader.error(key, f"is not a mail address: {value!r}")
    return value.strip()


def _reply_failure(code: int, reply: bytes | str, host: str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    message = f"submit: {host} answered {code} {text}".strip()
    if 500 <= code < 600:
        return PermanentFailure(message)
    # 4xx is "try again later" in SMTP; anything odd (-1 for a garbled reply) as well.
    return TemporaryFailure(message)


def _recipients_failure(recipients: Mapping[str, tuple[int, bytes]]) -> DeliveryError:
    replies = "; ".join(f"{rcpt}: {code}" for rcpt, (code, _) in recipients.items())
    message = f"submit: every recipient was refused ({replies})"
    if any(400 <= code < 500 for code, _ in recipients.values()):
        return TemporaryFailure(message)
    return PermanentFailure(message)
