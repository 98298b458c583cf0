"""Sending one mail over SMTP, under a total deadline: the one SMTP client of the project.

The `email` adapter (reports to a department mailbox) and the e-mail notifier (updates to
the reporter, adapters/notify.py) both send through `SmtpSender`, so the settings (host,
port, ssl or starttls, login, timeout) are read the same way and an SMTP outcome means the
same thing to both: 4xx replies, refused connections and timeouts are temporary, 5xx
replies and a server lacking STARTTLS or AUTH are permanent.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from marshmallow import ValidationError, validate, validates_schema

from adapters.base import DeliveryError, PermanentFailure, TemporaryFailure
from adapters.deadline import Deadline
from adapters.http import Timeout, Timeouts
from adapters.settings import Flag, SettingsSchema, Text, TextList, Whole


class Port(Whole):
    """A port number; digits as text too (`port: "${SMTP_PORT}"` arrives as text)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


class MailAddress(Text):
    """One address, a display name allowed (`Roads <roads@city.example>`)."""

    default_error_messages = {"address": "Not a mail address."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "@" not in parseaddr(text)[1] or any(c in text for c in "\r\n"):
            raise self.make_error("address")
        return text.strip()


class MailAddresses(TextList):
    """One address or a non-empty list of them."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        addresses = super()._deserialize(value, attr, data, **kwargs)
        if not addresses:
            raise ValidationError("Must not be empty.")
        return [MailAddress().deserialize(a) for a in addresses]


class SmtpSettingsSchema(SettingsSchema):
    """The settings every SMTP user takes; each extends it (from, to, subject, …)."""

    host = Text(required=True)
    port = Port(load_default=None, validate=validate.Range(min=1, max=65535))
    starttls = Flag(load_default=False)
    ssl = Flag(load_default=False)
    username = Text(load_default=None)
    password = Text(load_default=None)
    timeout = Timeout()

    @validates_schema
    def _together(self, data: dict[str, Any], **_: Any) -> None:
        if data["ssl"] and data["starttls"]:
            raise ValidationError("Cannot be combined with ssl (pick one).", "starttls")
        if (data["username"] is None) != (data["password"] is None):
            missing = "password" if data["username"] else "username"
            raise ValidationError("Required with the other of username and password.", missing)


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


@dataclass(frozen=True)
class SmtpSender:
    host: str
    port: int
    use_ssl: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    # smtplib takes one timeout for connecting and one for every later socket operation;
    # the total is a deadline over the whole conversation (adapters/deadline.py), since a
    # server that drips its replies would reset a socket timeout with every byte.
    timeouts: Timeouts = Timeouts(5.0, 20.0, 25.0)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SmtpSender:
        """From settings as SmtpSettingsSchema (or a schema extending it) loaded them."""
        return cls(
            host=settings["host"].strip(),
            port=settings["port"] or (465 if settings["ssl"] else 25),
            use_ssl=settings["ssl"],
            starttls=settings["starttls"],
            username=settings["username"],
            password=settings["password"],
            timeouts=settings["timeout"],
        )

    def send(
        self, message: EmailMessage, sender: str, recipients: list[str], *, what: str
    ) -> dict[str, tuple[int, bytes]]:
        """Send `message` from the bare address `sender` to `recipients`; answers the
        recipients the server refused (the others got it). Raises TemporaryFailure or
        PermanentFailure, their messages starting with `what`."""
        deadline = Deadline(self.timeouts.total)
        try:
            with deadline:
                return self._send(message, sender, recipients, deadline)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _recipients_failure(exc.recipients, what) from exc
        except smtplib.SMTPNotSupportedError as exc:
            # STARTTLS or AUTH asked for but not offered: a configuration problem.
            raise PermanentFailure(f"{what}: {self.host}:{self.port}: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _reply_failure(exc.smtp_code, exc.smtp_error, self.host, what) from exc
        except (smtplib.SMTPException, OSError) as exc:
            if deadline.expired:
                raise TemporaryFailure(
                    f"{what}: mail to {self.host}:{self.port} timed out: not done within "
                    f"{self.timeouts.total:g}s (the total deadline)"
                ) from exc
            # Refused connections, timeouts, TLS trouble, a server hanging up.
            raise TemporaryFailure(
                f"{what}: mail to {self.host}:{self.port} failed ({type(exc).__name__}: {exc})"
            ) from exc

    def _send(
        self, message: EmailMessage, sender: str, recipients: list[str], deadline: Deadline
    ) -> dict[str, tuple[int, bytes]]:
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
            return client.send_message(message, from_addr=sender, to_addrs=recipients)


def _reply_failure(code: int, reply: bytes | str, host: str, what: str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    message = f"{what}: {host} answered {code} {text}".strip()
    if 500 <= code < 600:
        return PermanentFailure(message)
    # 4xx is "try again later" in SMTP; anything odd (-1 for a garbled reply) as well.
    return TemporaryFailure(message)


def _recipients_failure(recipients: Mapping[str, tuple[int, bytes]], what: str) -> DeliveryError:
    replies = "; ".join(f"{rcpt}: {code}" for rcpt, (code, _) in recipients.items())
    message = f"{what}: every recipient was refused ({replies})"
    if any(400 <= code < 500 for code, _ in recipients.values()):
        return TemporaryFailure(message)
    return PermanentFailure(message)
