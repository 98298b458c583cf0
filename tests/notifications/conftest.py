"""Real servers on loopback for the reporter's updates: an SMTP server (aiosmtpd) that can
be down and come back on the same port, and an HTTP SMS gateway that records each form
post and answers what the test tells it to."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from open311.delivery import build_adapters
from open311.notifications import Notices, build_notifiers
from open311.outbox import Outbox
from tests.conftest import make_key
from tests.support.mail import Mail
from tests.support.plugin import FAST
from tests.support.servers import free_port

CONFIG = Path(__file__).parent / "gateway.yaml"
SMS_TOKEN = "sms-token-secret"


class MailServer:
    """aiosmtpd on a fixed loopback port, started and stopped by the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[Mail] = []
        self.controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        content = envelope.original_content or envelope.content
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), bytes(content)))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        for _ in range(50):  # the port may take a moment to be free again after a stop
            controller = Controller(self, hostname="127.0.0.1", port=self.port)
            try:
                controller.start()
            except Exception:
                time.sleep(0.1)
                continue
            self.controller = controller
            return
        raise RuntimeError(f"cannot listen on {self.port}")

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@dataclass
class Text:
    form: dict[str, list[str]]
    auth: tuple[str, str]
    idempotency_key: str | None

    def __getitem__(self, name: str) -> str:
        return self.form[name][0]


class SmsGateway:
    """A Twilio-shaped SMS gateway: POST /Messages.json with To, From, Body and basic auth.
    `answers` is a list of statuses to give, one per call, then 201 for ever."""

    def __init__(self) -> None:
        self.texts: list[Text] = []  # the accepted ones
        self.calls = 0
        self.answers: list[int] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.02), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/2010-04-01/Accounts/AC-test-account/Messages.json"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self.calls += 1
            status = self.answers.pop(0) if self.answers else 201
            if status < 300:
                scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
                user, _, password = base64.b64decode(encoded).decode().partition(":")
                assert scheme == "Basic"
                self.texts.append(
                    Text(
                        parse_qs(request.get_data(as_text=True)),
                        (user, password),
                        request.headers.get("Idempotency-Key"),
                    )
                )
                body = f'{{"sid": "SM{len(self.texts):04d}", "status": "queued"}}'
            else:
                body = '{"message": "try later"}'
        return Response(body, status=status, content_type="application/json")(
            environ, start_response
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    server = SmsGateway()
    yield server
    server.stop()


@pytest.fixture
def settings(
    db_url: str, mail_server: MailServer, sms_gateway: SmsGateway, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("TEST_SMTP_PORT", str(mail_server.port))
    monkeypatch.setenv("TEST_SMS_URL", sms_gateway.url)
    monkeypatch.setenv("TEST_SMS_TOKEN", SMS_TOKEN)
    return {
        "DATABASE_URL": db_url,
        "TESTING": True,
        "CONFIG": str(CONFIG),
        "SECRET_KEY": "notification-test-secret",
        "STAFF_COOKIE_SECURE": False,  # the test client speaks plain http
    }


@pytest.fixture
def outbox(app: Any) -> Iterator[Outbox]:
    gateway = app.extensions["open311"]
    catalog = gateway.catalog
    notices = Notices(catalog.notifications, build_notifiers(catalog), app.config["SECRET_KEY"])
    worker = Outbox(gateway.db, catalog, build_adapters(catalog), FAST, seed=7, notices=notices)
    yield worker
    worker.close()


@pytest.fixture
def staff_key(app: Any) -> str:
    return make_key(app, "ha-clerk", "staff", "tenants")
