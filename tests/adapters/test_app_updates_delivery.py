"""An app's update travels to the agency's Open311 back-end through the outbox, after the
report itself, and reaches the public record as that agency's configuration allows.

A gateway whose agency forwards to an upstream GeoReport server (a real server on
loopback) that speaks mySociety's POST servicerequestupdates, as open311-adapter does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from open311 import create_app
from open311.delivery import build_adapters
from open311.models import AppUpdate, Delivery
from tests.conftest import make_key
from tests.helpers import parse
from tests.support.plugin import FAST

from .conftest import Backend

CONFIG = """
gateway:
  contact: Test desk
  key_service: Ask the test desk
  default_jurisdiction: testcity.gov
jurisdictions:
  - id: testcity.gov
    name: Test City
    id_prefix: TC-
agencies:
  - id: city
    name: Test City Works
    adapter: open311
    app_updates: {public_comments: %(public)s, status_changes: %(public)s}
    settings:
      endpoint: "%(endpoint)s"
      api_key: UPSTREAM-KEY
      jurisdiction_id: upstream.example
services:
  - code: POTHOLE
    name: Pothole
    description: A pothole.
    agency: city
"""


@pytest.fixture(params=["allowed", "default"])
def policy(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def gateway(tmp_path: Path, db_url: str, backend: Backend, policy: str) -> Any:
    config = tmp_path / "gateway.yaml"
    public = "true" if policy == "allowed" else "false"
    config.write_text(CONFIG % {"endpoint": backend.url("/open311/v2"), "public": public})
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(config)})
    yield app
    app.extensions["open311"].db.dispose()


def drain(app: Any) -> None:
    from open311.outbox import Outbox

    gw = app.extensions["open311"]
    worker = Outbox(gw.db, gw.catalog, build_adapters(gw.catalog), FAST, seed=3)
    try:
        worker.drain()
    finally:
        worker.close()


def test_an_update_follows_its_report_to_the_upstream_and_the_record_as_allowed(
    gateway: Any, backend: Backend, policy: str, fmt: str
) -> None:
    backend.on("POST", "/open311/v2/requests.json", json=[{"service_request_id": "SR-77"}])
    backend.on(
        "POST", "/open311/v2/servicerequestupdates.json", json=[{"update_id": "UPSTREAM-U1"}]
    )
    client = gateway.test_client()
    key = make_key(gateway, "fms")
    api = "/open311/v2"
    answer = client.post(
        f"{api}/requests.{fmt}",
        data={"api_key": key, "service_code": "POTHOLE", "lat": "41.3", "long": "-72.9"},
    )
    [created] = parse(answer, fmt)
    rid = created["service_request_id"]
    # Posted before the report is delivered: the update waits for it.
    update = client.post(
        f"{api}/servicerequestupdates.{fmt}",
        data={
            "api_key": key,
            "service_request_id": rid,
            "update_id_ext": "c-1",
            "status": "FIXED",
            "description": "Filled by a neighbour",
            "media_url": "https://photos.example.org/p/1.jpg",
        },
    )
    [body] = parse(update, fmt)
    uid = body["update_id"]
    drain(gateway)
    sent = [r.path for r in backend.received]
    assert sent == ["/open311/v2/requests.json", "/open311/v2/servicerequestupdates.json"]
    form = backend.requests_to("/open311/v2/servicerequestupdates.json")[0].form()
    assert form["service_request_id"] == ["SR-77"]  # the upstream's own id for the report
    assert form["update_id"] == [uid]
    assert form["status"] == ["FIXED"]
    assert form["description"] == ["Filled by a neighbour"]
    assert form["media_url"] == ["https://photos.example.org/p/1.jpg"]
    assert form["api_key"] == ["UPSTREAM-KEY"] and form["jurisdiction_id"] == ["upstream.example"]
    headers = backend.requests_to("/open311/v2/servicerequestupdates.json")[0].headers
    assert headers["Idempotency-Key"] == f"{rid}:city:{uid}"
    with gateway.extensions["open311"].db.read() as session:
        row = session.scalar(select(Delivery).where(Delivery.app_update_id.is_not(None)))
        assert row is not None
        assert (row.state, row.backend_id, row.primary) == ("done", "UPSTREAM-U1", False)
        kept = session.scalar(select(AppUpdate))
        assert kept is not None and kept.public_id == uid
    [report] = parse(client.get(f"{api}/requests/{rid}.{fmt}"), fmt)
    if policy == "allowed":
        assert (report["status"], report["status_notes"]) == ("closed", "Filled by a neighbour")
    else:
        assert report["status"] == "open"
        assert report["status_notes"] != "Filled by a neighbour"
    # Delivered once: a second drain sends nothing more.
    drain(gateway)
    assert len(backend.received) == 2


def test_an_update_is_not_tried_before_its_report_reached_the_agency(
    gateway: Any, backend: Backend, fmt: str
) -> None:
    backend.on("POST", "/open311/v2/requests.json", status=503, body="maintenance")
    client = gateway.test_client()
    key = make_key(gateway, "fms")
    data = {"api_key": key, "service_code": "POTHOLE", "lat": "41.3", "long": "-72.9"}
    [created] = parse(client.post(f"/open311/v2/requests.{fmt}", data=data), fmt)
    update = {"api_key": key, "service_request_id": created["service_request_id"]}
    response = client.post(
        f"/open311/v2/servicerequestupdates.{fmt}", data={**update, "description": "Deeper"}
    )
    assert response.status_code == 200, response.data
    drain(gateway)
    assert {r.path for r in backend.received} == {"/open311/v2/requests.json"}
    with gateway.extensions["open311"].db.read() as session:
        waiting = session.scalar(select(Delivery).where(Delivery.app_update_id.is_not(None)))
        assert waiting is not None
        # Never claimed: no attempt counted, so the agency's trouble is not counted twice.
        assert (waiting.state, waiting.attempts) == ("pending", 0)
