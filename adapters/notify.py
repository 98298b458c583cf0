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

from marshmallow import Schema, fields
from requests.auth import HTTPBasicAuth

from adapters.base import PermanentFailure
from adapters.http import HttpClient, HttpSettingsSchema
from adapters.settings import HttpUrl, SettingsSchema, Text, load_settings
from adapters.smtp import MailAddress, SmtpSender, SmtpSettingsSchema

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
    """Base class: a channel's sender, built from its settings, which `settings_schema`
    loads into `options` (as for adapters: adapters/settings.py)."""

    name: ClassVar[str] = ""
    channel: ClassVar[str] = ""
    settings_schema: ClassVar[type[Schema] | None] = None

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        """Raises SettingsError (a ValueError) naming each wrong key."""
        self.settings: Mapping[str, Any] = dict(settings or {})
        self.options: dict[str, Any] = (
            load_settings(f"notifications.{self.channel}", self.settings_schema, settings)
            if self.settings_schema is not None
            else dict(self.settings)
        )

    def send(self, notice: Notice) -> str | None:
        """Send it; answers the provider's id for the message, if it gives one."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; called when the worker stops."""


class EmailNotifierSettings(SmtpSettingsSchema):
    sender = MailAddress(required=True, data_key="from")
    notifier = Text()


class EmailNotifier(Notifier):
    """Plain-text mail with the RFC 8058 one-click unsubscribe headers."""

    name = "smtp"
    channel = "email"
    settings_schema = EmailNotifierSettings

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        self.smtp = SmtpSender.from_settings(self.options)
        self.sender: str = self.options["sender"]
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


class _SmsFieldsSchema(SettingsSchema):
    to = Text(load_default="To")
    sender = Text(load_default="From", data_key="from")
    body = Text(load_default="Body")


class HttpSmsSettings(HttpSettingsSchema):
    url = HttpUrl(required=True)
    account_sid = Text(required=True)
    auth_token = Text(required=True)
    sender = Text(required=True, data_key="from")
    names = fields.Nested(_SmsFieldsSchema, data_key="fields", load_default=dict)
    notifier = Text()

    class Meta:
        # The account id and token are the credentials (HTTP basic).
        exclude = ("auth",)


def phone_number(text: str) -> str:
    """The number as SMS gateways take it: residents type "+1 (203) 555-0142", gateways
    want "+12035550142" (E.164 when the resident gave the +country or 00; digits otherwise).
    A bracketed trunk zero ("+44 (0)20 …") is dropped, as it is never dialled from abroad."""
    given = text.replace("(0)", "").strip()
    international = given.startswith(("+", "00"))
    digits = "".join(c for c in given if c.isdigit())
    if given.startswith("00"):
        digits = digits[2:]
    if not 7 <= len(digits) <= 15:
        raise PermanentFailure("notify: the reporter's phone is not a phone number")
    return ("+" if international else "") + digits


class HttpSmsNotifier(Notifier):
    """A form POST per message: To, From, Body (names configurable under `fields`), basic
    auth with the account id and token, an Idempotency-Key header with the notice's key."""

    name = "http_form"
    channel = "sms"
    settings_schema = HttpSmsSettings

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        o = self.options
        self.url: str = o["url"]
        self.sender: str = o["sender"].strip()
        names = o["names"] or _SmsFieldsSchema().load({})
        self.fields = {"to": names["to"], "from": names["sender"], "body": names["body"]}
        self.client = HttpClient(o, adapter="notifications.sms")
        self.client.session.auth = HTTPBasicAuth(o["account_sid"], o["auth_token"])

    def send(self, notice: Notice) -> str | None:
        form = {
            self.fields["to"]: phone_number(notice.to),
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
