"""Shared pieces of the GeoReport v2 conformance suite: URL helpers, direct database edits
(for what no public call can do: age a report, close it, acknowledge a delivery), and a
real `open311 serve` process for the tests that talk HTTP."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from open311 import DEMO_CONFIG
from open311.models import Delivery, ServiceRequest
from tests.helpers import parse, post_request
from tests.support.servers import free_port, open311_command, stop_process, wait_until_up

API = "/open311/v2"
# Output datetimes: UTC, `Z`, no fractional seconds (the form every validator accepts).
W3C_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)


def api(path: str) -> str:
    return f"{API}/{path}"


def created(client: Any, fmt: str, key: str, **fields: Any) -> dict[str, Any]:
    """POST a report (a New Haven pothole unless told otherwise) and return the one answer."""
    response = post_request(client, fmt, key, **fields)
    assert response.status_code == 200, response.data
    body = parse(response, fmt)
    assert isinstance(body, list) and len(body) == 1, body
    return body[0]


def new_id(client: Any, fmt: str, key: str, **fields: Any) -> str:
    rid = created(client, fmt, key, **fields)["service_request_id"]
    assert rid, "a realtime service answers a service_request_id"
    return rid


def edit_request(app: Any, public_id: str, **values: Any) -> None:
    """Change a stored report directly (requested_datetime, status, …)."""
    with app.extensions["open311"].db.write() as session, session.begin():
        row = session.scalar(select(ServiceRequest).where(ServiceRequest.public_id == public_id))
        assert row is not None, public_id
        for name, value in values.items():
            setattr(row, name, value)


def public_id_for_token(app: Any, token: str) -> str:
    with app.extensions["open311"].db.read() as session:
        row = session.scalar(select(ServiceRequest).where(ServiceRequest.token == token))
        assert row is not None and row.public_id
        return row.public_id


def acknowledge_primary(app: Any, token: str) -> None:
    """What the outbox does when the owning agency accepts the report."""
    with app.extensions["open311"].db.write() as session, session.begin():
        row = session.scalar(select(ServiceRequest).where(ServiceRequest.token == token))
        assert row is not None
        deliveries = session.scalars(
            select(Delivery).where(Delivery.request_id == row.id, Delivery.primary.is_(True))
        ).all()
        assert deliveries, "a batch report queues a primary delivery"
        for delivery in deliveries:
            delivery.state = "done"


def parse_w3c_utc(value: str) -> datetime:
    assert W3C_UTC.match(value or ""), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


# --- a real server ------------------------------------------------------------------------


@dataclass
class LiveServer:
    base: str  # the GeoReport endpoint, no trailing slash
    root: str  # scheme://host:port
    key: str  # a submit key made with `open311 keys create`
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`open311 serve` on a free loopback port over a fresh SQLite file (the demo config)."""
    folder = tmp_path_factory.mktemp("live")
    database = f"sqlite:///{folder}/x.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN311_")}
    # The embedded delivery worker must not reach a real demo work-order system that may be
    # running on its default port: point the demo agency at the discard port instead.
    env["OPEN311_DEMO_WORKORDERS_URL"] = "http://127.0.0.1:9"
    command = open311_command()
    made = subprocess.run(
        [*command, "--database-url", database, "keys", "create", "conformance"],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    lines = made.stdout.decode().splitlines()
    assert len(lines) == 1, f"stdout must be the key and nothing else: {made.stdout!r}"
    key = lines[0].strip()
    assert key.startswith("o311_") and len(key) > 20, key
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [
            *command,
            "--database-url",
            database,
            "--config",
            str(DEMO_CONFIG),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_up(root, process)
        yield LiveServer(base=f"{root}{API}", root=root, key=key, process=process)
    except RuntimeError:
        log.flush()
        print((folder / "server.log").read_text(errors="replace")[-4000:])
        raise
    finally:
        stop_process(process)
        log.close()
