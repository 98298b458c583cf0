"""Updates for the reporter, end to end on both databases: opt-in on POST requests (both
formats), one message per change of the public status per channel, nothing without the
opt-in, outages of the mail server and the SMS gateway ridden out with nothing doubled,
private reports told nothing private, the retention purge ending the messages, and no
personal value in any log line."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from open311.catalog import ConfigError, load_catalog
from open311.db import utcnow
from open311.models import Delivery, ReporterContact, ServiceRequest
from open311.notifications import build_notifiers, read_stop_token
from open311.retention import purge_personal_data
from tests.helpers import parse

from .conftest import CONFIG, SMS_TOKEN

EMAIL = "tenant.7f3a@example.org"
PHONE = "+1 203 555 0142"


def post(client: Any, key: str, fmt: str = "json", code: str = "TENANT", **extra: Any) -> Any:
    data = {"service_code": code, "address_string": "3 Ash Ct", "api_key": key, **extra}
    return client.post(f"/open311/v2/requests.{fmt}", data=data)


def report(client: Any, key: str, fmt: str = "json", **extra: Any) -> str:
    r = post(client, key, fmt, **extra)
    assert r.status_code == 200, r.data
    return parse(r, fmt)[0]["service_request_id"]


def set_status(client: Any, staff: str, rid: str, status: str, **extra: Any) -> None:
    r = client.post(
        f"/open311/v2/staff/requests/{rid}/status.json",
        json={"status": status, **extra},
        headers={"X-API-Key": staff},
    )
    assert r.status_code == 200, r.data


def notifications(app: Any) -> list[Delivery]:
    with app.extensions["open311"].db.read() as session:
        return list(
            session.scalars(
                select(Delivery)
                .where(Delivery.request_update_id.is_not(None))
                .order_by(Delivery.id)
            )
        )


def test_opted_in_reporter_gets_one_message_per_change_per_channel(
    app, client, submit_key, staff_key, outbox, mail_server, sms_gateway, fmt
) -> None:
    rid = report(
        client, submit_key, fmt, email=EMAIL, phone=PHONE, notify="both", description="No heat"
    )
    outbox.drain()  # the report reaches the inbox: "Received by …" is the first change
    set_status(client, staff_key, rid, "open", detailed_status="in_progress")
    set_status(client, staff_key, rid, "open", detailed_status="in_progress", status_notes="x")
    set_status(client, staff_key, rid, "closed", status_notes="Boiler repaired")
    outbox.drain()
    outbox.drain()  # nothing is sent twice

    # received, in progress, closed; a note alone is no news
    assert len(mail_server.mails) == 3
    assert len(sms_gateway.texts) == 3
    assert [d.state for d in notifications(app)] == ["done"] * 6
    assert len({d.idempotency_key for d in notifications(app)}) == 6

    last = mail_server.mails[-1]
    assert last.rcpt_tos == [EMAIL]
    assert last.mail_from == "updates@testcity.example"
    message = last.message
    assert message["To"] == EMAIL
    assert message["Subject"] == f"Update on your report {rid}"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    stop_url = message["List-Unsubscribe"].strip("<>")
    assert stop_url.startswith("https://report.testcity.example/notifications/stop/")
    assert read_stop_token(app.config["SECRET_KEY"], stop_url.rsplit("/", 1)[1]) == rid
    body = message.get_content()
    assert "Its status is now: Closed." in body
    assert "Boiler repaired" in body
    assert f"https://report.testcity.example/track/{rid}" in body
    assert stop_url in body
    assert "Tenant issue" in body
    assert "No heat" not in body  # the description is not repeated
    # The same change sent again (a lost acknowledgement) carries the same Message-ID.
    ids = [m.message["Message-ID"] for m in mail_server.mails]
    assert len(set(ids)) == 3

    text = sms_gateway.texts[-1]
    assert text.auth == ("AC-test-account", SMS_TOKEN)
    assert (text["To"], text["From"]) == ("+12035550142", "+15550100")  # as gateways take it
    assert f"Report {rid}: Closed." in text["Body"]
    assert f"https://report.testcity.example/track/{rid}" in text["Body"]
    assert "/notifications/stop/" in text["Body"]
    assert text.idempotency_key == notifications(app)[-1].idempotency_key
    assert len(text["Body"]) < 320  # two SMS segments at most


def test_links_use_the_configured_address_not_the_host_header(
    app, client, submit_key, staff_key, outbox, mail_server
) -> None:
    r = client.post(
        "/open311/v2/requests.json",
        data={
            "service_code": "TENANT",
            "address_string": "3 Ash Ct",
            "api_key": submit_key,
            "email": EMAIL,
            "notify": "email",
        },
        headers={"Host": "evil.example"},
    )
    assert r.status_code == 200, r.data
    outbox.drain()
    (mail,) = mail_server.mails
    assert "evil.example" not in mail.content.decode()
    assert "https://report.testcity.example/track/" in mail.message.get_content()


@pytest.mark.parametrize(
    "extra",
    [
        {},  # an address alone is not a wish for messages
        {"notify": "none"},
        {"email_alerts_requested": "FALSE"},
        {"notify": "sms"},  # asked for texts, gave no phone
    ],
)
def test_without_the_opt_in_nothing_is_sent(
    app, client, submit_key, staff_key, outbox, mail_server, sms_gateway, extra
) -> None:
    rid = report(client, submit_key, email=EMAIL, **extra)
    outbox.drain()
    set_status(client, staff_key, rid, "closed")
    outbox.drain()
    assert mail_server.mails == [] and sms_gateway.texts == []
    assert notifications(app) == []


def test_mysociety_email_alerts_requested_means_email(
    client, submit_key, staff_key, outbox, mail_server, sms_gateway, fmt
) -> None:
    report(client, submit_key, fmt, email=EMAIL, phone=PHONE, email_alerts_requested="TRUE")
    outbox.drain()
    assert len(mail_server.mails) == 1 and sms_gateway.texts == []


def test_an_anonymous_service_keeps_no_address_to_write_to(
    app, client, submit_key, outbox, mail_server
) -> None:
    r = post(client, submit_key, code="TIP", email=EMAIL, notify="email")
    assert r.status_code == 200, r.data
    outbox.drain()
    assert mail_server.mails == [] and notifications(app) == []


def test_a_wrong_choice_is_a_400_in_the_requested_format(client, submit_key, fmt) -> None:
    r = post(client, submit_key, fmt, email=EMAIL, notify="pigeon")
    assert r.status_code == 400
    errors = parse(r, fmt)
    assert any("notify" in e["description"] for e in errors), errors


def test_mail_server_down_then_back_delivers_once(
    app, client, submit_key, staff_key, outbox, mail_server
) -> None:
    mail_server.stop()
    rid = report(client, submit_key, email=EMAIL, notify="email")
    outbox.drain()
    [row] = notifications(app)
    # (a retry may come due, and fail again, within the same drain on a slow machine)
    assert row.state == "pending" and row.attempts >= 1
    assert "mail to 127.0.0.1" in row.last_error
    # Reports are not held up by the mail server: the inbox delivery is done.
    with app.extensions["open311"].db.read() as session:
        sr = session.scalar(select(ServiceRequest).where(ServiceRequest.public_id == rid))
        assert [d.state for d in sr.deliveries] == ["done"]
    mail_server.start()
    later = utcnow() + timedelta(seconds=30)
    _drain_at(outbox, later)
    assert len(mail_server.mails) == 1
    [row] = notifications(app)
    assert row.state == "done" and row.last_error is None


def _drain_at(outbox: Any, now: Any) -> None:
    for _ in range(20):
        claimed = outbox.claim(now=now)
        if not claimed:
            return
        for ids in claimed.values():
            outbox.deliver_batch(ids, now=now)


def test_sms_gateway_500_then_200_sends_once(app, client, submit_key, outbox, sms_gateway) -> None:
    sms_gateway.answers = [500, 503]
    report(client, submit_key, phone=PHONE, notify="sms")
    outbox.drain()
    later = utcnow()
    for step in range(1, 6):
        _drain_at(outbox, later + timedelta(seconds=10 * step))
    assert sms_gateway.calls == 3
    assert len(sms_gateway.texts) == 1
    [row] = notifications(app)
    assert row.state == "done" and row.attempts == 3 and row.backend_id == "SM0001"


def test_private_report_message_says_only_the_status_and_the_link(
    app, client, submit_key, staff_key, outbox, mail_server, sms_gateway
) -> None:
    rid = report(
        client,
        submit_key,
        code="LEASE",
        email=EMAIL,
        phone=PHONE,
        notify="both",
        # "#": a character no random id or signed link (hex, base64url) can hold.
        description="Neighbour in unit #4B sublets",
    )
    outbox.drain()
    set_status(client, staff_key, rid, "closed", status_notes="Tenant of #4B warned")
    outbox.drain()
    assert len(mail_server.mails) == 2 and len(sms_gateway.texts) == 2
    for text in [m.message.get_content() for m in mail_server.mails] + [
        t["Body"] for t in sms_gateway.texts
    ]:
        for private in ("Lease violation", "#4B", "Housing Authority", "sublets", "warned"):
            assert private not in text, (private, text)
        assert f"https://report.testcity.example/track/{rid}" in text
    assert "Closed" in mail_server.mails[-1].message.get_content()


def test_retention_purge_ends_the_messages(
    app, client, submit_key, staff_key, outbox, mail_server
) -> None:
    rid = report(client, submit_key, email=EMAIL, notify="email")
    outbox.drain()
    set_status(client, staff_key, rid, "closed")  # queued, not yet sent
    db = app.extensions["open311"].db
    with db.write() as session, session.begin():
        assert purge_personal_data(session, timedelta(0), now=utcnow() + timedelta(days=1)) == 1
    outbox.drain()
    assert len(mail_server.mails) == 1  # the "received" one, sent before the purge
    set_status(client, staff_key, rid, "open")  # reopened: nobody to tell now
    outbox.drain()
    assert len(mail_server.mails) == 1
    rows = notifications(app)
    assert len(rows) == 2
    assert rows[-1].state == "done" and rows[-1].last_error.startswith("not sent: no contact")


def test_no_personal_value_in_logs_or_kept_errors(
    app, client, submit_key, staff_key, outbox, mail_server, sms_gateway, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="open311")
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    mail_server.stop()
    sms_gateway.answers = [500]
    rid = report(client, submit_key, email=EMAIL, phone=PHONE, notify="both")
    outbox.drain()
    mail_server.start()
    _drain_at(outbox, utcnow() + timedelta(seconds=30))
    set_status(client, staff_key, rid, "closed")
    outbox.drain()
    assert len(mail_server.mails) == 2 and len(sms_gateway.texts) == 2
    text = "\n".join(r.getMessage() + " " + str(vars(r)) for r in caplog.records)
    assert "notification" in text or "delivery" in text
    for value in (EMAIL, PHONE, "555 0142", "tenant.7f3a"):
        assert value not in text, value
    for row in notifications(app):
        assert EMAIL not in (row.last_error or "") and PHONE not in (row.last_error or "")


def test_spanish_reporter_gets_spanish(
    client, submit_key, staff_key, outbox, mail_server, sms_gateway
) -> None:
    rid = report(client, submit_key, email=EMAIL, phone=PHONE, notify="both", language="es-MX")
    outbox.drain()
    set_status(client, staff_key, rid, "closed")
    outbox.drain()
    body = mail_server.mails[-1].message.get_content()
    assert mail_server.mails[-1].message["Content-Language"] == "es"
    assert "Cerrado" in body or "Cerrada" in body, body
    assert "Update on your report" not in mail_server.mails[-1].message["Subject"]
    assert "Closed" not in sms_gateway.texts[-1]["Body"]


@pytest.mark.parametrize(
    ("channel", "settings", "key"),
    [
        ("email", {"host": "h", "from": "not an address"}, "from"),
        ("email", {"host": "h", "from": "a@b.example", "ssl": True, "starttls": True}, "starttls"),
        ("email", {"from": "a@b.example"}, "host"),
        ("sms", {"url": "ftp://x", "account_sid": "a", "auth_token": "t", "from": "1"}, "url"),
        ("sms", {"url": "https://x.example", "auth_token": "t", "from": "1"}, "account_sid"),
        ("sms", {"url": "https://x.example", "account_sid": "a", "auth_token": "t"}, "from"),
        (
            "sms",
            {
                "url": "https://x.example",
                "account_sid": "a",
                "auth_token": "t",
                "from": "1",
                "notifier": "carrier-pigeon",
            },
            "carrier-pigeon",
        ),
    ],
)
def test_bad_channel_settings_stop_start_up_naming_the_key(
    tmp_path, channel, settings, key
) -> None:
    import yaml

    raw = yaml.safe_load(CONFIG.read_text())
    raw["notifications"] = {"public_url": "https://x.example", channel: settings}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=f"notifications.{channel}.*{key}"):
        build_notifiers(load_catalog(path))


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("+1 (203) 555-0142", "+12035550142"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("203.555.0142", "2035550142"),
    ],
)
def test_phone_numbers_go_to_the_gateway_as_it_takes_them(typed, sent) -> None:
    from adapters.notify import phone_number

    assert phone_number(typed) == sent


def test_a_phone_that_is_no_number_is_not_retried(
    app, client, submit_key, outbox, sms_gateway
) -> None:
    refused = post(client, submit_key, "json", phone="call me", notify="sms")
    assert refused.status_code == 400 and b"phone" in refused.data  # open311/contact.py
    report(client, submit_key, phone=PHONE, notify="sms")
    # A contact kept from before the gateway checked phone numbers.
    with app.extensions["open311"].db.write() as session, session.begin():
        session.execute(update(ReporterContact).values(phone="call me"))
    outbox.drain()
    assert sms_gateway.calls == 0
    [row] = notifications(app)
    assert row.state == "dead" and "not a phone number" in row.last_error


def test_a_blackbox_report_is_not_followed_by_messages(
    app, client, submit_key, outbox, mail_server
) -> None:
    """Its app got no id, and the gateway hands none out later: a message would."""
    r = post(client, submit_key, code="HOTLINE", email=EMAIL, notify="email")
    assert r.status_code == 200, r.data
    outbox.drain()
    assert mail_server.mails == [] and notifications(app) == []
    assert 'name="notify"' not in client.get("/report/testcity.gov/HOTLINE").data.decode()
