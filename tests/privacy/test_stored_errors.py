"""Stored delivery errors keep nothing personal and no credential (issue 8, item 8).

A loopback back-end answers every report with a 500 whose body echoes what it was sent:
the reporter's e-mail and phone and the gateway's upstream api_key, percent-, XML- or
JSON-encoded (as a form echo, an XML fault and a JSON error would carry them). None of
them may be found, in any spelling, in the stored errors (the delivery's and the
destination's), in `open311 outbox list`, in /readyz and /metrics, or in the log. The
purge then clears the errors of the reports it purges."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from open311.cli import main
from open311.db import utcnow
from open311.delivery import build_adapters
from open311.models import Delivery, DestinationState, ServiceRequest
from open311.outbox import Outbox
from tests.conftest import make_key
from tests.support.plugin import FAST

EMAIL = "obrien+311@example.org"
PHONE = "+1 (203) 555-0143"
UPSTREAM_KEY = "up/stream&key=S3cr3t<x>"
VALUES = (EMAIL, PHONE, UPSTREAM_KEY)

CONFIG = """
gateway: {contact: Test desk, key_service: Ask, default_jurisdiction: city.example}
jurisdictions: [{id: city.example, name: City, id_prefix: C-}]
agencies:
  - id: upstream
    name: Upstream city system
    adapter: open311
    settings: {endpoint: "URL", api_key: "KEY", timeout: {connect: 1, read: 2}}
services:
  - {code: POTHOLE, name: Pothole, description: A pothole., agency: upstream}
"""


def spellings(value: str) -> set[str]:
    """Every way the value may have come back, and the parts a partial echo shows."""
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        quote(value, safe="@"),
        escape(value, {'"': "&quot;"}),
        json.dumps(value)[1:-1],
    }
    if value == PHONE:
        forms |= {"2035550143", "555-0143", "(203)"}
    if value == EMAIL:
        forms |= {"obrien", "obrien%2B311"}
    if value == UPSTREAM_KEY:
        forms |= {"S3cr3t"}
    return {f.lower() for f in forms}


def leaked(text: str) -> list[str]:
    low = text.lower()
    return sorted(f for value in VALUES for f in spellings(value) if f in low)


ECHOES = {
    # A form echo: what it received, percent-encoded, values first (the gateway keeps 200
    # characters of an answer).
    "percent": lambda form: (
        "could not parse "
        + " ".join(quote_plus(form.get(k, "")) for k in ("email", "phone", "api_key"))
    ),
    "xml": lambda form: (
        "<fault><value>"
        + "</value><value>".join(escape(form.get(k, "")) for k in ("email", "phone", "api_key"))
        + "</value></fault>"
    ),
    "json": lambda form: json.dumps(
        {"error": "invalid", "got": [form.get(k, "") for k in ("email", "phone", "api_key")]}
    ),
}


class EchoBackend:
    """Answers every POST with a 500 that echoes the form in one encoding."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        form = Request(environ).form.to_dict()
        body = ECHOES[self.encoding](form)
        return Response(body, status=500, content_type="text/plain")(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=sorted(ECHOES))
def echo(request: pytest.FixtureRequest) -> Iterator[EchoBackend]:
    backend = EchoBackend(request.param)
    yield backend
    backend.stop()


@pytest.fixture
def config(tmp_path: Path, echo: EchoBackend) -> Path:
    path = tmp_path / "gateway.yaml"
    text = CONFIG.replace('"URL"', json.dumps(f"{echo.url}/open311/v2"))
    path.write_text(text.replace('"KEY"', json.dumps(UPSTREAM_KEY)), encoding="utf-8")
    return path


@pytest.fixture
def settings(db_url: str, config: Path) -> dict[str, Any]:
    return {"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(config)}


def deliver_once(app: Any) -> None:
    gw = app.extensions["open311"]
    worker = Outbox(gw.db, gw.catalog, build_adapters(gw.catalog), FAST, seed=7)
    try:
        worker.run_once()
    finally:
        worker.close()


def stored_errors(app: Any) -> list[str]:
    with app.extensions["open311"].db.read() as session:
        rows = list(session.scalars(select(Delivery.last_error)))
        rows += list(session.scalars(select(DestinationState.last_error)))
    return [r for r in rows if r]


def test_echoed_values_are_kept_nowhere(
    app: Any, client: Any, db_url: str, config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = make_key(app, "resident-app")
    answer = client.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "POTHOLE", "address_string": "1 Elm St",
              "description": "Deep hole", "email": EMAIL, "phone": PHONE},
    )  # fmt: skip
    assert answer.status_code == 200, answer.data
    with caplog.at_level(logging.DEBUG):
        deliver_once(app)

    errors = stored_errors(app)
    assert len(errors) == 2 and "HTTP 500" in errors[0], errors  # the delivery's, the breaker's
    assert "[redacted" in errors[0], errors[0]
    for error in errors:
        assert not leaked(error), (leaked(error), error)

    env = {"OPEN311_DATABASE_URL": db_url, "OPEN311_CONFIG": str(config)}
    for command in (["outbox", "list"], ["outbox", "list", "--json"], ["outbox", "status"]):
        shown = CliRunner().invoke(main, command, env=env)
        assert shown.exit_code == 0, shown.output
        assert "HTTP 500" in shown.output or "500" in shown.output, shown.output
        assert not leaked(shown.output), (command, leaked(shown.output))

    admin = make_key(app, "prometheus", role="admin")
    for path in ("/readyz", "/metrics"):
        page = client.get(path, headers={"Authorization": f"Bearer {admin}"})
        assert page.status_code == 200, page.data
        assert not leaked(page.get_data(as_text=True)), (path, leaked(page.get_data(as_text=True)))
    assert "HTTP 500" in client.get("/readyz", headers={"X-API-Key": admin}).get_data(as_text=True)
    assert not leaked(caplog.text), leaked(caplog.text)


def test_the_purge_clears_the_errors_of_purged_reports(app: Any, client: Any, db_url: str) -> None:
    key = make_key(app, "resident-app")
    for _ in range(2):
        client.post(
            "/open311/v2/requests.json",
            data={"api_key": key, "service_code": "POTHOLE", "address_string": "1 Elm St",
                  "email": EMAIL},
        )  # fmt: skip
    deliver_once(app)
    # An error stored before this redaction existed, say, holding the address as it was.
    raw = f"upstream: answered HTTP 500: {quote(EMAIL)}"
    with app.extensions["open311"].db.write() as session, session.begin():
        old, recent = session.scalars(select(ServiceRequest).order_by(ServiceRequest.id)).all()
        old.status, old.updated_datetime = "closed", utcnow() - timedelta(days=400)
        session.execute(update(Delivery).values(last_error=raw))
        session.execute(update(DestinationState).values(last_error=raw))
        old_id, recent_id = old.id, recent.id

    result = CliRunner().invoke(
        main, ["purge-personal-data", "--older-than", "30"], env={"OPEN311_DATABASE_URL": db_url}
    )
    assert result.exit_code == 0, result.output
    with app.extensions["open311"].db.read() as session:
        errors = dict(session.execute(select(Delivery.request_id, Delivery.last_error)).all())
        breaker = session.scalar(select(DestinationState.last_error))
    assert errors[old_id] is None  # purged with the report's contact
    assert errors[recent_id] == raw  # still open: its error is the operator's to read
    assert breaker is None  # it was the purged report's error
