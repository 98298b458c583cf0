from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from adapters.base import PermanentFailure, TemporaryFailure
from adapters.email import EmailAdapter
from adapters.settings import SettingsError

from .conftest import keys_named


def adapter_for(server, **settings) -> EmailAdapter:
    base = {
        "host": server.host,
        "port": server.port,
        "from": "Open311 Gateway <open311@newhaven.example.gov>",
        "to": ["potholes@newhaven.example.gov", "supervisor@newhaven.example.gov"],
        "subject": "New {service_name} report {request_id}",
    }
    base.update(settings)
    return EmailAdapter(base)


def test_mail_arrives_with_headers_and_a_readable_body(smtp_server, make_ticket) -> None:
    receipt = adapter_for(smtp_server).submit(make_ticket(description="Tiefes Loch – ünïcode"))

    (mail,) = smtp_server.mails
    assert mail.mail_from == "open311@newhaven.example.gov"
    assert mail.rcpt_tos == ["potholes@newhaven.example.gov", "supervisor@newhaven.example.gov"]
    message = mail.message
    assert message["Subject"] == "New Pothole report NHV-2024-000123"
    assert message["From"] == "Open311 Gateway <open311@newhaven.example.gov>"
    assert "potholes@newhaven.example.gov" in message["To"]
    assert message["X-Open311-Request-Id"] == "NHV-2024-000123"
    assert message["Message-ID"] == receipt.backend_id
    assert receipt.backend_id.endswith("@newhaven.example.gov>")
    assert message["Date"]

    body = message.get_content()
    assert "Pothole (POTHOLE)" in body
    assert "NHV-2024-000123" in body
    assert "2024-05-01 12:30 UTC" in body
    assert "165 Church St, New Haven" in body
    assert "https://www.openstreetmap.org/?mlat=41.308300&mlon=-72.927900" in body
    assert "Tiefes Loch – ünïcode" in body
    assert "DEPTH: deep" in body
    assert "LANES: left, right" in body
    assert "https://media.example.org/p/1.jpg" in body
    assert "https://media.example.org/p/2.jpg" in body
    assert "Jane Doe" in body
    assert "jane@example.org" in body
    assert "+1 203 555 0100" in body
    assert "for information" not in body


def test_message_id_follows_the_idempotency_key(smtp_server, make_ticket) -> None:
    adapter = adapter_for(smtp_server)
    first = adapter.submit(make_ticket())
    again = adapter.submit(make_ticket())
    other = adapter.submit(make_ticket(idempotency_key="NHV-2024-000123:housing"))
    assert first.backend_id == again.backend_id
    assert other.backend_id != first.backend_id
    assert [m.message["Message-ID"] for m in smtp_server.mails] == [
        first.backend_id,
        first.backend_id,
        other.backend_id,
    ]


def test_contact_can_be_left_out(smtp_server, make_ticket) -> None:
    adapter_for(smtp_server, include_contact=False, to="one@example.gov").submit(
        make_ticket(primary=False)
    )
    (mail,) = smtp_server.mails
    assert mail.rcpt_tos == ["one@example.gov"]
    body = mail.message.get_content()
    for personal in ("Jane", "Doe", "jane@example.org", "555 0100"):
        assert personal not in body
    assert "for information" in body


def test_subject_cannot_inject_headers(smtp_server, make_ticket) -> None:
    adapter_for(smtp_server, subject="{service_name}").submit(
        make_ticket(service_name="Pothole\r\nBcc: everyone@example.org")
    )
    message = smtp_server.mails[0].message
    assert message["Bcc"] is None
    assert message["Subject"] == "Pothole Bcc: everyone@example.org"
    assert smtp_server.mails[0].rcpt_tos == [
        "potholes@newhaven.example.gov",
        "supervisor@newhaven.example.gov",
    ]


def test_ticket_without_location_has_no_map_link(smtp_server, make_ticket) -> None:
    adapter_for(smtp_server).submit(make_ticket(lat=None, long=None, media_urls=(), attributes={}))
    body = smtp_server.mails[0].message.get_content()
    assert "openstreetmap" not in body
    assert "Photos" not in body


# Plain-text AUTH is fine on loopback; aiosmtpd warns about it all the same.
NO_TLS_WARNING = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@NO_TLS_WARNING
def test_login(smtp_factory, make_ticket) -> None:
    server = smtp_factory(credentials=("gateway", "s3cret"))
    adapter_for(server, username="gateway", password="s3cret").submit(make_ticket())
    assert server.logins == [("gateway", "s3cret")]
    assert len(server.mails) == 1


@NO_TLS_WARNING
def test_wrong_password_is_permanent(smtp_factory, make_ticket) -> None:
    server = smtp_factory(credentials=("gateway", "s3cret"))
    with pytest.raises(PermanentFailure, match="535"):
        adapter_for(server, username="gateway", password="wrong").submit(make_ticket())
    assert server.mails == []


def test_starttls_not_offered_is_permanent(smtp_server, make_ticket) -> None:
    with pytest.raises(PermanentFailure, match="STARTTLS"):
        adapter_for(smtp_server, starttls=True).submit(make_ticket())


@pytest.mark.parametrize(
    ("stage", "reply", "expected"),
    [
        ("rcpt", "550 5.1.1 No such mailbox", PermanentFailure),
        ("rcpt", "450 4.2.1 Mailbox busy, try later", TemporaryFailure),
        ("data", "451 4.3.0 Local error in processing", TemporaryFailure),
        ("data", "554 5.7.1 Message rejected as spam", PermanentFailure),
    ],
)
def test_smtp_replies_are_classified(smtp_server, make_ticket, stage, reply, expected) -> None:
    setattr(smtp_server.handler, f"{stage}_reply", reply)
    with pytest.raises(expected) as info:
        adapter_for(smtp_server).submit(make_ticket())
    assert reply[:3] in str(info.value)
    assert smtp_server.mails == []


def test_refused_connection_is_temporary(closed_port, make_ticket) -> None:
    adapter = EmailAdapter(
        {"host": "127.0.0.1", "port": closed_port, "from": "a@example.gov", "to": "b@example.gov"}
    )
    with pytest.raises(TemporaryFailure):
        adapter.submit(make_ticket())


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections but never says hello."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


def test_server_that_never_greets_times_out(silent_port, make_ticket) -> None:
    adapter = EmailAdapter(
        {
            "host": "127.0.0.1",
            "port": silent_port,
            "from": "a@example.gov",
            "to": "b@example.gov",
            "timeout": 0.3,
        }
    )
    with pytest.raises(TemporaryFailure):
        adapter.submit(make_ticket())


@pytest.fixture
def dripping_port() -> Iterator[int]:
    """A server that answers every SMTP command, one byte every 0.2 s: each byte comes well
    inside the read timeout, so only the total deadline ends the conversation."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip(conn: socket.socket, line: bytes) -> None:
        for byte in line:
            if stop.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.2)

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                drip(conn, b"220 slow.example ESMTP\r\n")
                while not stop.is_set() and conn.recv(4096):
                    drip(conn, b"250 ok\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(timeout=5)


@pytest.mark.serial  # timed: run alone, after the parallel part (Makefile)
def test_a_dripping_server_is_cut_at_the_total_deadline(dripping_port, make_ticket) -> None:
    adapter = EmailAdapter(
        {
            "host": "127.0.0.1",
            "port": dripping_port,
            "from": "a@example.gov",
            "to": "b@example.gov",
            "timeout": {"connect": 1, "read": 1, "total": 2},
        }
    )
    started = time.monotonic()
    with pytest.raises(TemporaryFailure, match="total deadline"):
        adapter.submit(make_ticket())
    seconds = time.monotonic() - started
    print(f"dripping SMTP server: cut after {seconds:.2f}s (total deadline 2s)")
    assert 1.8 <= seconds < 3.0, seconds


def test_there_is_no_way_back(smtp_server) -> None:
    assert adapter_for(smtp_server).fetch_updates(datetime(2024, 1, 1, tzinfo=UTC)) == []


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"host": None}, "host"),
        ({"from": "not an address"}, "from"),
        ({"to": []}, "to"),
        ({"to": None}, "to"),
        ({"to": ["ok@example.gov", "nope"]}, "to"),
        ({"ssl": True, "starttls": True}, "starttls"),
        ({"username": "gateway"}, "password"),
        ({"password": "secret"}, "username"),
        ({"subject": "{service_name} {citizen}"}, "subject"),
        ({"subject": "{request_id.__class__}"}, "subject"),
        ({"subject": "{email}"}, "subject"),
        ({"port": 70000}, "port"),
        ({"include_contact": "no"}, "include_contact"),
        ({"cc": "x@example.gov"}, "cc"),
    ],
)
def test_bad_settings_name_the_key(settings, key) -> None:
    base = {"host": "mail.example.gov", "from": "a@example.gov", "to": "b@example.gov"}
    merged = {k: v for k, v in {**base, **settings}.items() if v is not None}
    if "to" in settings and settings["to"] is None:
        merged.pop("to", None)
    with pytest.raises(SettingsError) as info:
        EmailAdapter(merged)
    assert key in keys_named(info.value), info.value.lines


def test_port_defaults() -> None:
    plain = EmailAdapter({"host": "h", "from": "a@example.gov", "to": "b@example.gov"})
    wrapped = EmailAdapter({"host": "h", "ssl": True, "from": "a@example.gov", "to": "b@x.gov"})
    assert (plain.port, wrapped.port) == (25, 465)


def test_map_link_survives_in_the_raw_mail(smtp_server, make_ticket) -> None:
    adapter_for(smtp_server).submit(make_ticket())
    raw = smtp_server.mails[0].content
    link = (
        b"https://www.openstreetmap.org/?mlat=41.308300&mlon=-72.927900#map=18/41.308300/-72.927900"
    )
    assert link in raw
