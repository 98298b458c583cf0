"""Messages to the reporter: one short text per status change, over e-mail or SMS.

A `Notifier` sends one `Notice` on one channel. The gateway composes the notice (language,
links, what may be said about a private report: open311/notifications.py) and hands it to
the notifier through the outbox, as it hands a `Ticket` to an agency's adapter, with the
same outcomes: a `TemporaryFailure` is retried with back-off, a `PermanentFailure` is not.

Built in: `smtp` (e-mail, through the one SMTP client in adapters/smtp.py) and `http_form`
(text messages through an HTTP SMS gateway in the common shape: a form POST of To, From
and Body to a URL, with the account id and token as HTTP basic credentials, as Twilio and
many others take it). Another provider is a class in the entry-point group
`open311.notifiers`, named by the channel's `notifier` setting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from importlib.metadata import entry_points
from typing import Any, ClassVar

from requests.auth import HTTPBasicAuth

from adapters.base import PermanentFailure
from adapters.config import SettingsReader
from adapters.http import HttpClient
from adapters.smtp import SMTP_SETTINGS, SmtpSender, mail_address

__all__ = [
    "CHANNELS",
    "EmailNotifier",
    "HttpSmsNotifier",
    "Notice",
    "Notifier",
    "create_notifier",
]

CHANNELS = ("email", "sms")
ENTRY_POINT_GROUP = "open311.notifiers"
FALLBACK_DOMAIN = "open311-gateway.invalid"


@dataclass(frozen=True)
class Notice:
    """One message to one reporter about one change of their report."""

    destination: str  # the outbox destination: "notify/email" or "notify/sms"
    request_id: str  # the report's public id (in logs and headers; never personal)
    idempotency_key: str  # stable for this (change, channel): the same on every try
    to: str  # the e-mail address or phone number: personal, never logged
    subject: str  # e-mail only
    text: str
    stop_url: str  # the signed link that turns these messages off
    language: str = "en"


class Notifier:
    """Base class: a channel's sender, built from its settings (validated in __init__)."""

    name: ClassVar[str] = ""
    channel: ClassVar[str] = ""

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings: Mapping[str, Any] = dict(settings or {})

    def send(self, notice: Notice) -> str | None:
        """Send it; answers the provider's id for the message, if it gives one."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; called when the worker stops."""


class EmailNotifier(Notifier):
    """Plain-text mail with the RFC 8058 one-click unsubscribe headers."""

    name = "smtp"
    channel = "email"
    SETTINGS = (*SMTP_SETTINGS, "from", "notifier")

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        reader = SettingsReader("notifications.email", self.settings, allowed=self.SETTINGS)
        self.smtp = SmtpSender.from_settings(reader)
        self.sender = mail_address(reader, "from", reader.require_str("from"))
        self.envelope_sender = parseaddr(self.sender)[1]
        self.domain = self.envelope_sender.rpartition("@")[2].strip() or FALLBACK_DOMAIN

    def compose(self, notice: Notice) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = " ".join(notice.subject.split())[:250]
        message["From"] = self.sender
        message["To"] = notice.to
        message["Date"] = format_datetime(datetime.now(UTC))
        # From the idempotency key: a message sent again after a lost acknowledgement
        # carries the same Message-ID, which mail systems use to drop the repeat.
        digest = hashlib.sha256(notice.idempotency_key.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<open311.notify.{digest}@{self.domain}>"
        # RFC 3834: an automatic message; vacation responders stay quiet.
        message["Auto-Submitted"] = "auto-generated"
        # RFC 2369 and RFC 8058: mail programs show an unsubscribe button that POSTs
        # "List-Unsubscribe=One-Click" to the link, with no cookies and no page.
        message["List-Unsubscribe"] = f"<{notice.stop_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["X-Open311-Request-Id"] = notice.request_id
        plain = notice.text.isascii() and all(len(x) <= 998 for x in notice.text.splitlines())
        message.set_content(notice.text, cte="7bit" if plain else None)
        message["Content-Language"] = notice.language  # after: set_content clears Content-*
        return message

    def send(self, notice: Notice) -> str | None:
        message = self.compose(notice)
        address = parseaddr(notice.to)[1]
        if "@" not in address or any(c in notice.to for c in "\r\n"):
            raise PermanentFailure("notify: the reporter's address is not a mail address")
        self.smtp.send(message, self.envelope_sender, [address], what="notify")
        return str(message["Message-ID"])


class HttpSmsNotifier(Notifier):
    """A form POST per message: To, From, Body (names configurable under `fields`), basic
    auth with the account id and token, an Idempotency-Key header with the notice's key."""

    name = "http_form"
    channel = "sms"
    SETTINGS = (
        "url",
        "account_sid",
        "auth_token",
        "from",
        "fields",
        "timeout",
        "headers",
        "max_answer_bytes",
        "notifier",
    )
    FIELDS = ("to", "from", "body")

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        reader = SettingsReader("notifications.sms", self.settings, allowed=self.SETTINGS)
        self.url = reader.get_url("url")
        self.sender = reader.require_str("from").strip()
        names = reader.nested("fields", allowed=self.FIELDS)
        self.fields = {
            key: (names.get_str(key) if names else None) or key.capitalize() for key in self.FIELDS
        }
        self.client = HttpClient(reader, auth_key=None)
        self.client.session.auth = HTTPBasicAuth(
            reader.require_str("account_sid"), reader.require_str("auth_token")
        )

    def send(self, notice: Notice) -> str | None:
        assert self.url is not None  # required in __init__
        form = {
            self.fields["to"]: notice.to,
            self.fields["from"]: self.sender,
            self.fields["body"]: notice.text,
        }
        response = self.client.request(
            "POST", self.url, what="notify", idempotency_key=notice.idempotency_key, data=form
        )
        try:
            answer = response.json()
        except ValueError:
            return None
        if isinstance(answer, dict):
            for key in ("sid", "id", "message_id"):
                if isinstance(answer.get(key), str | int):
                    return str(answer[key])
        return None

    def close(self) -> None:
        self.client.close()


_BUILT_IN: dict[str, dict[str, type[Notifier]]] = {
    "email": {EmailNotifier.name: EmailNotifier},
    "sms": {HttpSmsNotifier.name: HttpSmsNotifier},
}
_DEFAULT = {"email": EmailNotifier.name, "sms": HttpSmsNotifier.name}


def create_notifier(channel: str, settings: Mapping[str, Any]) -> Notifier:
    """The channel's notifier: `notifier` in its settings names it (the built-in one by
    default). ValueError when the name or a setting is wrong."""
    name = str(settings.get("notifier") or _DEFAULT[channel])
    found: type[Notifier] | None = _BUILT_IN[channel].get(name)
    if found is None:
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
            loaded = ep.load()
            if isinstance(loaded, type) and issubclass(loaded, Notifier):
                found = loaded
    if found is None or found.channel != channel:
        raise ValueError(f"notifications.{channel}: unknown notifier {name!r}")
    return found(settings)
