"""Updates for the reporter: who asked, what is queued when a report's status changes,
what the message says, and the link that stops them.

The path of one message (docs/architecture.md, section 6):
1. POST requests (`requested_channels`): the reporter asked (`notify=email|sms|both`, or
   mySociety's `email_alerts_requested=TRUE`) and left the address for that channel; the
   choice and the page's language are kept with the contact (`reporter_contact`).
2. `open311/updates.py` `record_change` applies a change to the public status and calls
   `queue_for_change`: one outbox row per channel asked for, in the same transaction as the
   change (nothing lost), keyed `notify:<change id>:<channel>` (unique: never queued twice).
3. The worker (`open311/outbox.py`) claims the row like a report's, `Notices.notice_for`
   writes the message at that moment, in the reporter's language, from the change and the
   contact as they are then: a contact purged by the retention rule, or a stop link
   followed since, means nothing is sent. The channel's notifier (adapters/notify.py)
   sends it; failures back off and retry like any delivery, per channel.
4. `/notifications/stop/<token>` (`open311/web/stop.py`) turns them off for that report.

A private report's holder is its reporter, so it is told too, but its message names
nothing beyond the new status and the tracking link (no service, no notes).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import quote

from babel.support import NullTranslations, Translations
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import Receipt
from adapters.notify import CHANNELS, Notice, Notifier, create_notifier
from adapters.settings import SettingsError

from .catalog import Catalog, ConfigError, Notifications, Service
from .db import insert_ignoring_conflicts, utcnow
from .i18n import LANGUAGES, TRANSLATIONS
from .models import Delivery, ReporterContact, RequestUpdate, ServiceRequest

log = logging.getLogger("open311.notifications")

# Outbox destinations: not agency ids (those cannot hold a "/"), so never mistaken for one.
DESTINATIONS = {channel: f"notify/{channel}" for channel in CHANNELS}
CHOICES = ("email", "sms", "both", "none")
_SALT = "open311.notifications.stop"


# --- asking -------------------------------------------------------------------------


def offered(settings: Notifications | None, service: Service) -> tuple[str, ...]:
    """The channels a service's reporters may ask for: the configured ones, except on a
    blackbox service, whose reports get no id to hand out (a message would carry one)."""
    if settings is None or service.type == "blackbox":
        return ()
    return settings.channels


def requested_channels(
    data: Mapping[str, Any],
    contact: Mapping[str, str],
    settings: Notifications | None,
    service: Service,
) -> dict[str, bool]:
    """The channels a new report's reporter gets updates on: asked for (`notify`, else
    `email_alerts_requested`), offered (`offered`), and with the address kept (an
    anonymous service keeps none, so nobody there is ever written to)."""
    choice = data.get("notify")
    if choice is None and data.get("email_alerts_requested"):
        choice = "email"
    asked = {"email": choice in ("email", "both"), "sms": choice in ("sms", "both")}
    configured = offered(settings, service)
    addresses = {"email": contact.get("email"), "sms": contact.get("phone")}
    return {c: asked[c] and c in configured and bool(addresses[c]) for c in CHANNELS}


def language_of(value: str | None) -> str | None:
    """A shipped language from a tag ("es", "es-MX", "ES_us"); None otherwise."""
    if not value:
        return None
    primary = value.replace("_", "-").split("-")[0].strip().lower()
    return primary if primary in LANGUAGES else None


# --- queueing -----------------------------------------------------------------------


def queue_for_change(session: Session, request: ServiceRequest, change: RequestUpdate) -> int:
    """One outbox row per channel the reporter still wants, for this change of the public
    status; answers how many. Called by record_change inside its transaction."""
    contact = request.contact
    if contact is None:
        return 0
    personal = contact.as_contact()
    wanted = {
        "email": contact.notify_email and bool(personal.email),
        "sms": contact.notify_sms and bool(personal.phone),
    }
    now = utcnow()
    rows = [
        {
            "request_id": request.id,
            "destination": DESTINATIONS[channel],
            "primary": False,
            "idempotency_key": f"notify:{change.public_id}:{channel}",
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "request_update_id": change.id,
        }
        for channel in CHANNELS
        if wanted[channel]
    ]
    if rows:
        session.execute(
            insert_ignoring_conflicts(session, Delivery, ["idempotency_key"]).values(rows)
        )
    return len(rows)


# --- stopping -----------------------------------------------------------------------


def stop_token(secret: str, public_id: str) -> str:
    """The signed part of a stop link: the report's public id (a private report's is
    random), so the link stops that report's messages and nothing else."""
    return URLSafeSerializer(secret, salt=_SALT).dumps(public_id)


def read_stop_token(secret: str, token: str) -> str | None:
    try:
        value = URLSafeSerializer(secret, salt=_SALT).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def stop(session: Session, public_id: str) -> bool:
    """Turn every channel off for the report; False when it has no contact (any more)."""
    contact = session.scalar(
        select(ReporterContact)
        .join(ServiceRequest, ServiceRequest.id == ReporterContact.request_id)
        .where(ServiceRequest.public_id == public_id)
    )
    if contact is None:
        return False
    contact.notify_email = False
    contact.notify_sms = False
    return True


# --- writing and sending --------------------------------------------------------------


@cache
def _translations(language: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [language], domain="messages")


def compose(
    row: ServiceRequest, change: RequestUpdate, channel: str, language: str, links: tuple[str, str]
) -> tuple[str, str]:
    """The subject and text of the message about `change`, in `language`."""
    _ = _translations(language).gettext
    track, stop_link = links
    number = row.public_id or ""
    status = {"open": _("Open"), "closed": _("Closed")}.get(change.status, change.status)
    subject = _("Update on your report %(number)s") % {"number": number}
    if channel == "sms":
        text = _(
            "Report %(number)s: %(status)s. Follow it: %(track)s Stop these messages: %(stop)s"
        )
        return subject, text % {
            "number": number,
            "status": status,
            "track": track,
            "stop": stop_link,
        }
    if row.private:
        opening = _("There is news about your report %(number)s.") % {"number": number}
    else:
        opening = _("There is news about your report %(number)s (%(service)s).") % {
            "number": number,
            "service": row.service_name,
        }
    lines = [_("Hello,"), "", opening, _("Its status is now: %(status)s.") % {"status": status}]
    if not row.private and change.status_notes:
        lines.append(change.status_notes)
    lines += [
        "",
        _("Follow it here: %(link)s") % {"link": track},
        "",
        "-- ",
        _("You get this message because you asked for updates when you sent the report."),
        _("To stop them, open: %(link)s") % {"link": stop_link},
    ]
    return subject, "\n".join(lines) + "\n"


class Notices:
    """What the worker needs to send the reporter's messages: the notifiers by outbox
    destination, the settings (links, default language) and the secret that signs links."""

    def __init__(
        self, settings: Notifications, notifiers: Mapping[str, Notifier], secret: str
    ) -> None:
        self.settings = settings
        self.notifiers = {DESTINATIONS[n.channel]: n for n in notifiers.values()}
        self.secret = secret

    @property
    def destinations(self) -> list[str]:
        return sorted(self.notifiers)

    def links(self, public_id: str) -> tuple[str, str]:
        base = self.settings.public_url
        return (
            f"{base}/track/{quote(public_id, safe='')}",
            f"{base}/notifications/stop/{stop_token(self.secret, public_id)}",
        )

    def notice_for(self, session: Session, delivery: Delivery) -> Notice | str:
        """The message for this outbox row as things are now, or why none is sent."""
        row = session.get(ServiceRequest, delivery.request_id)
        change = session.get(RequestUpdate, delivery.request_update_id)
        if row is None or change is None or row.public_id is None:
            return "the report or the change is gone"
        contact = row.contact
        channel = delivery.destination.removeprefix("notify/")
        if contact is None:
            return "no contact (erased by the retention rule)"
        personal = contact.as_contact()
        wanted, to = (
            (contact.notify_email, personal.email)
            if channel == "email"
            else (contact.notify_sms, personal.phone)
        )
        if not wanted:
            return "the reporter stopped updates"
        if not to:
            return "no address for this channel"
        language = contact.language or self.settings.default_language
        links = self.links(row.public_id)
        subject, text = compose(row, change, channel, language, links)
        return Notice(
            destination=delivery.destination,
            request_id=row.public_id,
            idempotency_key=delivery.idempotency_key,
            to=to,
            subject=subject,
            text=text,
            stop_url=links[1],
            language=language,
        )

    def send(self, notice: Notice) -> Receipt:
        return Receipt(backend_id=self.notifiers[notice.destination].send(notice))

    def close(self) -> None:
        for notifier in self.notifiers.values():
            notifier.close()


def build_notifiers(catalog: Catalog) -> dict[str, Notifier]:
    """One notifier per configured channel; a bad setting stops start-up, naming the key."""
    settings = catalog.notifications
    built: dict[str, Notifier] = {}
    if settings is None:
        return built
    for channel in settings.channels:
        try:
            built[channel] = create_notifier(channel, getattr(settings, channel))
        except (ImportError, LookupError, ValueError, TypeError) as exc:
            for notifier in built.values():
                notifier.close()
            # A schema's problems by key path, as for the rest of the file.
            lines = (
                [f"notifications.{channel}.{line}" for line in exc.lines]
                if isinstance(exc, SettingsError)
                else [f"notifications.{channel}: {exc}"]
            )
            raise ConfigError(
                f"{catalog.source}: the configuration is not valid:\n"
                + "\n".join(f"  {line}" for line in lines)
            ) from exc
    return built
