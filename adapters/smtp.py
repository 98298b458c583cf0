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

from adapters.base import DeliveryError, PermanentFailure, TemporaryFailure
from adapters.config import SettingsReader
from adapters.deadline import Deadline
from adapters.http import Timeouts, read_timeout

# The settings every SMTP user reads (each adds its own: from, to, subject, …).
SMTP_SETTINGS = ("host", "port", "starttls", "ssl", "username", "password", "timeout")


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
    def from_settings(cls, reader: SettingsReader) -> SmtpSender:
        host = reader.require_str("host").strip()
        use_ssl = reader.get_bool("ssl", False)
        starttls = reader.get_bool("starttls", False)
        if use_ssl and starttls:
            raise reader.error("starttls", "cannot be combined with 'ssl' (pick one)")
        raw_port = reader.raw("port")
        if isinstance(raw_port, str) and raw_port.strip().isdigit():
            # `port: "${SMTP_PORT}"` arrives as text from the environment.
            reader = SettingsReader(
                reader.adapter,
                {**reader.data, "port": int(raw_port)},
                allowed=list(reader.data),
                path=reader.path,
            )
        port = reader.get_int("port", 465 if use_ssl else 25, minimum=1, maximum=65535)
        username = reader.get_str("username")
        password = reader.get_str("password")
        if (username is None) != (password is None):
            raise reader.error("password" if username else "username", "is required too")
        return cls(
            host=host,
            port=port,
            use_ssl=use_ssl,
            starttls=starttls,
            username=username,
            password=password,
            timeouts=read_timeout(reader),
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


def mail_address(reader: SettingsReader, key: str, value: str) -> str:
    """A setting holding one address (display name allowed), checked."""
    address = parseaddr(value)[1]
    if "@" not in address or any(c in value for c in "\r\n"):
        raise reader.error(key, f"is not a mail address: {value!r}")
    return value.strip()


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
