"""The rules of the public status that docs/architecture.md promises, each through the way a
change really arrives: only the primary destination speaks for the report (a sync pull and a
webhook push alike), an older change never overwrites a newer one, a batch token resolves on
the primary's delivery, and what a back-end writes reaches an XML answer without the
characters XML cannot carry."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

from sqlalchemy import select

from adapters.http_json import HttpJsonAdapter
from open311.db import utcnow
from open311.models import Delivery
from open311.sync import sync_all
from schemas.datetimes import format_w3c
from tests.helpers import parse

SECRETS = {"works": "works-shared-secret", "health": "health-shared-secret"}


def post(client, key, code):
    data = {"service_code": code, "address_string": "9 Elm St", "api_key": key}
    r = client.post("/open311/v2/requests.json", data=data)
    assert r.status_code == 200, r.data
    return r.get_json()[0]


def backend_ids(database) -> dict[str, str]:
    with database.read() as session:
        rows = session.execute(select(Delivery.destination, Delivery.backend_id)).all()
    return {destination: backend_id for destination, backend_id in rows}


def push(client, agency, fmt, **update):
    body = json.dumps({"updates": [update]}).encode()
    signature = "sha256=" + hmac.new(SECRETS[agency].encode(), body, hashlib.sha256).hexdigest()
    r = client.post(
        f"/open311/v2/agencies/{agency}/updates.{fmt}",
        data=body,
        headers={"Content-Type": "application/json", "X-Open311-Signature": signature},
    )
    assert r.status_code == 200, r.data
    return int(parse(r, fmt)["applied"])


def _ahead(seconds: int) -> str:
    return format_w3c(utcnow() + timedelta(seconds=seconds))


def public(client, rid, fmt):
    [record] = parse(client.get(f"/open311/v2/requests/{rid}.{fmt}"), fmt)
    return record


def feed_adapter(backend, path):
    """A status feed over the loopback back-end, as an agency's settings would give it."""
    return HttpJsonAdapter(
        {
            "url": f"{backend.url}/{path}",
            "timeout": {"connect": 1, "read": 2},
            "status": {
                "feed_url": f"{backend.url}/{path}",
                "since_param": "since",
                "notes_path": "notes",
                "updated_path": "updated_at",
                "value_map": {"new": "open", "done": "closed"},
            },
        }
    )


def test_a_copy_recipients_sync_does_not_set_the_public_status(
    client, app, submit_key, outbox, backend, database, fmt
):
    gateway = app.extensions["open311"]
    rid = post(client, submit_key, "SPILL")["service_request_id"]
    assert outbox.drain() == 2
    ids = backend_ids(database)
    backend.close_order(ids["health"], "Health inspected it")
    health = feed_adapter(backend, "health-cases")
    try:
        sync_all(gateway.db, gateway.catalog, {"health": health})
        record = public(client, rid, fmt)
        assert record["status"] == "open"
        assert record.get("status_notes") != "Health inspected it"
        # The primary's back-end, through the same path, does decide.
        backend.close_order(ids["works"], "Cleaned up")
        works = feed_adapter(backend, "work-orders")
        try:
            sync_all(gateway.db, gateway.catalog, {"works": works})
        finally:
            works.close()
    finally:
        health.close()
    record = public(client, rid, fmt)
    assert record["status"] == "closed" and record["status_notes"] == "Cleaned up"


def test_a_copy_recipients_webhook_does_not_set_the_public_status(
    client, submit_key, outbox, database, fmt
):
    rid = post(client, submit_key, "SPILL")["service_request_id"]
    outbox.drain()
    ids = backend_ids(database)
    when = "2099-03-01T10:00:00Z"
    by_id = {"status": "closed", "status_notes": "Health: done", "updated_datetime": when}
    assert push(client, "health", fmt, backend_id=ids["health"], update_id="h1", **by_id) == 0
    assert push(client, "health", fmt, service_request_id=rid, update_id="h2", **by_id) == 0
    assert public(client, rid, fmt)["status"] == "open"
    by_works = {"status": "closed", "status_notes": "Works: done", "updated_datetime": when}
    assert push(client, "works", fmt, backend_id=ids["works"], update_id="w1", **by_works) == 1
    record = public(client, rid, fmt)
    assert record["status"] == "closed" and record["status_notes"] == "Works: done"


def test_an_older_change_never_overwrites_a_newer_one(client, submit_key, outbox, database, fmt):
    rid = post(client, submit_key, "POTHOLE")["service_request_id"]
    outbox.drain()
    works_id = backend_ids(database)["works"]
    # Both after the report was made and within the clock skew a change may be dated ahead
    # (open311/updates.py CLOCK_SKEW; further ahead it is recorded at its arrival).
    newer = {"status": "closed", "status_notes": "Patched", "updated_datetime": _ahead(120)}
    older = {"status": "open", "status_notes": "Crew sent", "updated_datetime": _ahead(60)}
    assert push(client, "works", fmt, backend_id=works_id, update_id="e2", **newer) == 1
    # Delivered late (a retried webhook, an overlapping sync): kept in the history only.
    assert push(client, "works", fmt, backend_id=works_id, update_id="e1", **older) == 1
    record = public(client, rid, fmt)
    assert record["status"] == "closed" and record["status_notes"] == "Patched"
    assert record["updated_datetime"] == newer["updated_datetime"]


def test_a_batch_token_resolves_on_the_primarys_delivery_not_a_copys(
    client, submit_key, outbox, fmt
):
    token = post(client, submit_key, "SPILL_PERMIT")["token"]
    claimed = outbox.claim()
    assert sorted(claimed) == ["health", "works"]
    [copy] = claimed["health"]
    assert outbox.deliver(copy) == "done"
    [pending] = parse(client.get(f"/open311/v2/tokens/{token}.{fmt}"), fmt)
    assert pending["service_request_id"] is None
    [primary] = claimed["works"]
    assert outbox.deliver(primary) == "done"
    [resolved] = parse(client.get(f"/open311/v2/tokens/{token}.{fmt}"), fmt)
    assert resolved["service_request_id"].startswith("TC-")


def test_control_characters_from_a_back_end_are_left_out_of_xml(
    client, submit_key, outbox, database, fmt
):
    rid = post(client, submit_key, "POTHOLE")["service_request_id"]
    outbox.drain()
    notes = "Patched\x07 by crew\x1b[0m 4\x00\x0b\ufffe"
    update = {"status": "closed", "status_notes": notes, "updated_datetime": "2099-05-01T00:00:00Z"}
    assert push(client, "works", fmt, backend_id=backend_ids(database)["works"], **update) == 1
    for url in (f"/open311/v2/requests/{rid}.xml", "/open311/v2/requests.xml"):
        r = client.get(url)
        assert r.status_code == 200, r.data
        [record] = [x for x in parse(r, "xml") if x["service_request_id"] == rid]
        assert record["status_notes"] == "Patched by crew[0m 4"
    # JSON carries them escaped, all but NUL, which no database here stores (PostgreSQL's
    # text refuses it): it is dropped where the change comes in, on both databases.
    assert public(client, rid, "json")["status_notes"] == notes.replace("\x00", "")
