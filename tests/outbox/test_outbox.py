"""The outbox: a report and its deliveries are written together, delivered, and acknowledged."""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from open311.cli import main
from open311.db import utcnow
from open311.models import Delivery
from tests.helpers import parse


def post(client, fmt, key, **fields):
    data = {"service_code": "POTHOLE", "address_string": "1 Main St", "api_key": key, **fields}
    return client.post(f"/open311/v2/requests.{fmt}", data=data)


def deliveries(database):
    with database.read() as session:
        return session.scalars(select(Delivery).order_by(Delivery.id)).all()


def test_report_and_delivery_rows_are_written_together(client, submit_key, database, fmt):
    r = post(client, fmt, submit_key)
    assert r.status_code == 200
    rid = parse(r, fmt)[0]["service_request_id"]
    rows = deliveries(database)
    assert [(d.destination, d.primary, d.state) for d in rows] == [("works", True, "pending")]
    assert rows[0].idempotency_key == f"{rid}:works"


def test_worker_delivers_with_idempotency_key_and_keeps_backend_id(
    client, submit_key, database, outbox, backend, fmt
):
    rid = parse(post(client, fmt, submit_key, description="deep"), fmt)[0]["service_request_id"]
    assert outbox.drain() == 1
    [row] = deliveries(database)
    assert row.state == "done" and row.backend_id == "WO-1" and row.attempts == 1
    [(key, body)] = backend.received
    assert key == f"{rid}:works"
    assert body["request_id"] == rid and body["description"] == "deep"
    assert outbox.drain() == 0  # nothing is delivered twice


def test_fan_out_to_primary_and_copy(client, submit_key, database, outbox, backend, fmt):
    r = post(client, fmt, submit_key, service_code="SPILL")
    rid = parse(r, fmt)[0]["service_request_id"]
    rows = deliveries(database)
    assert [(d.destination, d.primary) for d in rows] == [("works", True), ("health", False)]
    outbox.drain()
    assert sorted(k for k, _ in backend.received) == [f"{rid}:health", f"{rid}:works"]
    assert {d.state for d in deliveries(database)} == {"done"}


def test_batch_token_resolves_once_primary_is_acknowledged(client, submit_key, outbox, fmt):
    created = parse(post(client, fmt, submit_key, service_code="PERMIT"), fmt)[0]
    token = created["token"]
    assert "service_request_id" not in created
    pending = parse(client.get(f"/open311/v2/tokens/{token}.{fmt}"), fmt)[0]
    assert pending["token"] == token and pending["service_request_id"] is None
    outbox.drain()
    resolved = parse(client.get(f"/open311/v2/tokens/{token}.{fmt}"), fmt)[0]
    assert resolved["service_request_id"].startswith("TC-")
    one = client.get(f"/open311/v2/requests/{resolved['service_request_id']}.{fmt}")
    assert one.status_code == 200


def test_inbox_destination_is_acknowledged_at_once(client, submit_key, database, outbox, fmt):
    rid = parse(post(client, fmt, submit_key, service_code="TENANT"), fmt)[0]["service_request_id"]
    outbox.drain()
    [row] = deliveries(database)
    assert (row.destination, row.state, row.backend_id) == ("tenants", "done", rid)


def test_outbox_list_json_and_retry_commands(client, submit_key, database, backend, db_url):
    backend.mode = "reject400"
    post(client, "json", submit_key)
    runner = CliRunner()
    env = {
        "OPEN311_DATABASE_URL": db_url,
        "OPEN311_CONFIG": str(_config()),
        "TEST_BACKEND_URL": backend.url,
    }
    result = runner.invoke(main, ["worker", "--once"], env=env)
    assert result.exit_code == 0, result.output
    listed = runner.invoke(main, ["outbox", "list", "--state", "dead", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.stdout)
    assert entry["state"] == "dead" and entry["destination"] == "works"
    assert entry["request_id"].startswith("TC-") and entry["attempts"] == 1
    assert "400" in entry["last_error"]
    assert {"backend_id", "last_error", "attempts", "state", "destination", "request_id"} <= set(
        entry
    )
    backend.mode = "ok"
    retried = runner.invoke(main, ["outbox", "retry", "--dead"], env=env)
    assert retried.exit_code == 0, retried.output
    assert runner.invoke(main, ["worker", "--once"], env=env).exit_code == 0
    [row] = deliveries(database)
    assert row.state == "done" and row.backend_id == "WO-1"
    again = runner.invoke(main, ["outbox", "retry", str(row.id)], env=env)
    assert again.exit_code != 0  # a delivered report is not sent again


def test_a_lease_too_short_for_its_heartbeat_is_refused(db_url):
    env = {"OPEN311_DATABASE_URL": db_url, "OPEN311_CONFIG": str(_config())}
    result = CliRunner().invoke(main, ["worker", "--once", "--lease", "3"], env=env)
    assert result.exit_code == 2, result.output
    assert "--lease" in result.output and "4" in result.output


def test_status_flows_back_from_the_backend(client, submit_key, app, outbox, backend, fmt):
    from open311.delivery import build_adapters
    from open311.sync import sync_all

    gateway = app.extensions["open311"]
    rid = parse(post(client, fmt, submit_key), fmt)[0]["service_request_id"]
    outbox.drain()
    [received] = parse(client.get(f"/open311/v2/requests/{rid}.{fmt}"), fmt)
    assert received["status_notes"] == "Received by Test City Public Works as WO-1."
    backend.close_order("WO-1", "Crew 4 filled it")
    adapters = build_adapters(gateway.catalog)
    assert sync_all(gateway.db, gateway.catalog, adapters)["works"] == 1
    assert sync_all(gateway.db, gateway.catalog, adapters)["works"] == 0  # overlap, no duplicate
    [body] = parse(client.get(f"/open311/v2/requests/{rid}.{fmt}"), fmt)
    assert body["status"] == "closed"
    assert body["status_notes"] == "Crew 4 filled it"
    assert body["agency_responsible"] == "Test City Public Works"
    ext = parse(client.get(f"/open311/v2/requests/{rid}.{fmt}?extensions=true"), fmt)[0]
    assert ext["extended_attributes"]["detailed_status"] == "done"
    notes = ext["notes"]
    assert [n["status"] for n in notes] == ["open", "closed"]
    assert notes[0]["summary"] == "Received by Test City Public Works as WO-1."


def test_expired_lease_is_taken_over_and_stale_worker_cannot_ack(
    client, submit_key, database, app, backend
):
    from open311.delivery import build_adapters
    from open311.outbox import Outbox
    from tests.support.plugin import FAST

    gateway = app.extensions["open311"]
    post(client, "json", submit_key)
    first = Outbox(gateway.db, gateway.catalog, build_adapters(gateway.catalog), FAST, owner="a")
    second = Outbox(gateway.db, gateway.catalog, build_adapters(gateway.catalog), FAST, owner="b")
    [[claimed]] = first.claim().values()
    assert second.claim() == {}  # held
    later = utcnow() + FAST.lease + timedelta(seconds=1)
    assert second.claim(now=later) == {"works": [claimed]}  # worker a "died"
    assert first.deliver(claimed) == "lost"  # a comes back: it may not deliver or ack
    assert second.deliver(claimed) == "done"
    [row] = deliveries(database)
    assert row.attempts == 2 and row.state == "done"
    assert len(backend.received) == 1


def _config():
    from tests.support.plugin import DELIVERY_CONFIG

    return DELIVERY_CONFIG
