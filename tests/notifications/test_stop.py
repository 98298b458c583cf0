"""The stop link of the reporter's updates, and the opt-in box of the report page."""

from __future__ import annotations

import re
from typing import Any

from open311.notifications import stop_token

from .test_notifications import EMAIL, PHONE, notifications, report, set_status


def _stop_path(mail_server: Any) -> str:
    link = mail_server.mails[-1].message["List-Unsubscribe"].strip("<>")
    return link.removeprefix("https://report.testcity.example")


def _csrf(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1).decode()


def test_the_stop_link_asks_then_stops_every_channel(
    app, client, submit_key, staff_key, outbox, mail_server, sms_gateway
) -> None:
    rid = report(client, submit_key, email=EMAIL, phone=PHONE, notify="both")
    outbox.drain()
    assert len(mail_server.mails) == 1 and len(sms_gateway.texts) == 1
    path = _stop_path(mail_server)
    assert path in sms_gateway.texts[-1]["Body"]  # the text carries the same short link

    page = client.get(path)  # a link preview or a mail scanner: changes nothing
    assert page.status_code == 200
    assert rid.encode() in page.data and b"Stop them?" in page.data
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert client.post(path).status_code == 400  # no CSRF token: refused, nothing stopped
    set_status(client, staff_key, rid, "open", detailed_status="in_progress")
    outbox.drain()
    assert len(mail_server.mails) == 2 and len(sms_gateway.texts) == 2

    done = client.post(path, data={"csrf_token": _csrf(client.get(path).data)})
    assert done.status_code == 200
    assert f"You will get no more updates about report {rid}.".encode() in done.data
    set_status(client, staff_key, rid, "closed")
    outbox.drain()
    assert len(mail_server.mails) == 2 and len(sms_gateway.texts) == 2
    assert len(notifications(app)) == 4  # nothing queued once stopped


def test_one_click_unsubscribe_needs_no_page_and_no_cookie(
    app, client, submit_key, staff_key, outbox, mail_server
) -> None:
    rid = report(client, submit_key, email=EMAIL, notify="email")
    outbox.drain()
    path = _stop_path(mail_server)
    fresh = app.test_client()  # what a mail provider's server sends: no cookie, no token
    r = fresh.post(path, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    set_status(client, staff_key, rid, "closed")
    outbox.drain()
    assert len(mail_server.mails) == 1
    assert len(notifications(app)) == 1  # nothing queued once stopped


def test_a_stop_link_already_queued_for_a_change_is_honoured(
    app, client, submit_key, staff_key, outbox, mail_server
) -> None:
    rid = report(client, submit_key, email=EMAIL, notify="email")
    outbox.drain()
    set_status(client, staff_key, rid, "closed")  # queued, not sent yet
    client.post(_stop_path(mail_server), data={"List-Unsubscribe": "One-Click"})
    outbox.drain()
    assert len(mail_server.mails) == 1
    [_, stopped] = notifications(app)
    assert (
        stopped.state == "done" and stopped.last_error == "not sent: the reporter stopped updates"
    )


def test_a_forged_or_foreign_token_stops_nothing(
    app, client, submit_key, outbox, mail_server
) -> None:
    rid = report(client, submit_key, email=EMAIL, notify="email")
    outbox.drain()
    path = _stop_path(mail_server)
    for bad in (
        path[:-2] + ("AA" if not path.endswith("AA") else "BB"),
        "/notifications/stop/" + stop_token("another gateway's secret", rid),
        "/notifications/stop/nonsense",
    ):
        assert client.get(bad).status_code == 404
        assert client.post(bad, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    with app.extensions["open311"].db.read() as session:
        from open311.models import ReporterContact

        (contact,) = session.query(ReporterContact).all()
        assert contact.notify_email is True


def test_the_report_page_offers_updates_on_the_configured_channels(app, client) -> None:
    page = client.get("/report/testcity.gov/TENANT?lang=es").data.decode()
    assert 'name="notify" value="both"' in page
    assert "por correo electrónico o mensaje de texto" in page
    assert 'name="language" value="es"' in page
    anonymous = client.get("/report/testcity.gov/TIP").data.decode()
    assert 'name="notify"' not in anonymous


def test_the_page_language_reaches_the_message(
    app, client, submit_key, outbox, mail_server
) -> None:
    # As the page's form sends it: notify=both, its language, an e-mail only.
    report(client, submit_key, email=EMAIL, notify="both", language="es")
    outbox.drain()
    (mail,) = mail_server.mails
    assert mail.message["Subject"].startswith("Novedades sobre su informe")
    assert "Para dejar de recibirlos" in mail.message.get_content()
