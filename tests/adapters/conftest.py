"""Real servers on loopback for the adapter tests: an HTTP back-end that records what it
received and answers what each test tells it to, and an SMTP server that keeps the mail."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from werkzeug.datastructures import Headers
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from adapters.base import Contact, Ticket
from adapters.settings import SettingsError
from tests.support.mail import Mail
from tests.support.servers import free_port

# --- HTTP -------------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str  # percent-decoded, as routes are matched
    raw_path: str  # as sent on the wire, to check quoting
    query: dict[str, list[str]]
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


# A handler answers an Answer or a tuple (status, body) / (status, body, headers).
Handler = Callable[[Received], Any]


class Backend:
    """A threaded WSGI server on 127.0.0.1 with per-(method, path) answers."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._routes: dict[tuple[str, str], Handler] = {}
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.port = self._server.server_port
        # A short poll interval keeps shutdown (once per test) from costing half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(
        self,
        method: str,
        path: str,
        answer: Answer | Handler | None = None,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        if answer is None:
            content: Any = body if body is not None else json
            answer = Answer(status, content if content is not None else b"", headers or {}, delay)
        handler: Handler = answer if callable(answer) else (lambda _r, a=answer: a)
        self._routes[(method.upper(), path)] = handler

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        received = Received(
            method=request.method,
            path=request.path,
            raw_path=environ.get("RAW_URI", "").partition("?")[0],
            query={k: request.args.getlist(k) for k in request.args},
            headers=Headers(request.headers),
            body=request.get_data(),
        )
        with self._lock:
            self.received.append(received)
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            return Response("no route", status=404)(environ, start_response)
        answer = handler(received)
        if isinstance(answer, tuple):
            answer = Answer(*answer)
        if answer.delay:
            time.sleep(answer.delay)
        body = answer.body
        content_type = "text/plain"
        if isinstance(body, list | dict):
            body, content_type = json.dumps(body), "application/json"
        elif isinstance(body, str) and body.lstrip().startswith("<"):
            content_type = "text/xml; charset=utf-8"
        headers = {"Content-Type": content_type, **answer.headers}
        return Response(body, status=answer.status, headers=headers)(environ, start_response)


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on, for refused connections."""
    return free_port()


# --- tickets ----------------------------------------------------------------------------


@pytest.fixture
def make_ticket() -> Callable[..., Ticket]:
    def build(**overrides: Any) -> Ticket:
        values: dict[str, Any] = {
            "request_id": "NHV-2024-000123",
            "idempotency_key": "NHV-2024-000123:nhv-public-works",
            "destination": "nhv-public-works",
            "jurisdiction_id": "newhaven.ct.us",
            "service_code": "POTHOLE",
            "service_name": "Pothole",
            "requested_datetime": datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC),
            "description": "Deep pothole in the right lane",
            "lat": 41.3083,
            "long": -72.9279,
            "address_string": "165 Church St, New Haven",
            "address_id": None,
            "zipcode": "06510",
            "attributes": {"DEPTH": "deep", "LANES": ["left", "right"]},
            "media_urls": (
                "https://media.example.org/p/1.jpg",
                "https://media.example.org/p/2.jpg",
            ),
            "contact": Contact(
                email="jane@example.org",
                phone="+1 203 555 0100",
                first_name="Jane",
                last_name="Doe",
                device_id="dev-1",
                account_id="acct-9",
            ),
        }
        values.update(overrides)
        return Ticket(**values)

    return build


# --- SMTP -------------------------------------------------------------------------------


class RecordingHandler:
    """Keeps every accepted mail; a test can make RCPT or DATA answer an error instead."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_reply:
            return self.data_reply
        content = envelope.original_content or envelope.content
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), bytes(content)))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, controller: Controller, handler: RecordingHandler) -> None:
        self.controller = controller
        self.handler = handler
        self.host = controller.hostname
        self.port = controller.port
        self.logins: list[tuple[str, str]] = []

    @property
    def mails(self) -> list[Mail]:
        return self.handler.mails


@pytest.fixture
def smtp_factory() -> Iterator[Callable[..., SmtpServer]]:
    """Start an aiosmtpd server; `credentials=(user, password)` makes it require AUTH."""
    started: list[Controller] = []

    def start(credentials: tuple[str, str] | None = None) -> SmtpServer:
        handler = RecordingHandler()
        logins: list[tuple[str, str]] = []

        def authenticator(server, session, envelope, mechanism, auth_data):
            if not isinstance(auth_data, LoginPassword):
                return AuthResult(success=False, handled=False)
            pair = (auth_data.login.decode(), auth_data.password.decode())
            logins.append(pair)
            # handled=False makes aiosmtpd answer 535 itself on failure.
            return AuthResult(success=pair == credentials, handled=False)

        kwargs: dict[str, Any] = {}
        if credentials is not None:
            kwargs = {
                "authenticator": authenticator,
                "auth_required": True,
                "auth_require_tls": False,
            }
        # aiosmtpd checks readiness by connecting to its port, so it cannot take port 0;
        # a just-freed port can be taken by someone else in between, hence the retries.
        for attempt in range(5):
            controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
            try:
                controller.start()
            except Exception:
                if attempt == 4:
                    raise
                continue
            break
        started.append(controller)
        server = SmtpServer(controller, handler)
        server.logins = logins
        return server

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def smtp_server(smtp_factory: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_factory()


def keys_named(error: SettingsError) -> list[str]:
    """The key paths a settings error names, one per line (`status.url`, `timeout.read`)."""
    return [line.split(": ", 1)[0] for line in error.lines]
