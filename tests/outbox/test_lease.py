"""The lease of a claimed delivery is renewed as its call starts (when less than half of
it is left) and while the call runs: a call longer than the lease is never taken over by
another worker, so it is made once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from adapters.http_json import HttpJsonAdapter
from open311.db import utcnow
from open311.delivery import build_adapters
from open311.models import Delivery
from open311.outbox import DONE, Outbox, OutboxPolicy

LEASE = OutboxPolicy(lease=timedelta(seconds=2))


def test_the_lease_is_renewed_at_the_start_of_and_during_a_call(
    client, submit_key, app, backend, database
):
    gateway = app.extensions["open311"]
    r = client.post(
        "/open311/v2/requests.json",
        data={"service_code": "POTHOLE", "address_string": "1 Elm", "api_key": submit_key},
    )
    assert r.status_code == 200
    backend.mode = "slow"
    backend.slow_seconds = 4.0  # twice the lease
    adapters = build_adapters(gateway.catalog)
    adapters["works"] = HttpJsonAdapter(
        {"url": backend.url + "/work-orders", "timeout": {"connect": 1, "read": 8}}
    )
    a = Outbox(gateway.db, gateway.catalog, adapters, LEASE, owner="a")
    b = Outbox(gateway.db, gateway.catalog, build_adapters(gateway.catalog), LEASE, owner="b")
    try:
        # Claimed a lease ago (a slow batch ahead of it): the lease is already over when
        # its call starts, so only the renewal at the start keeps it.
        [[row]] = a.claim().values()
        with database.write() as session, session.begin():
            session.get(Delivery, row).lease_until = utcnow() - timedelta(seconds=1)
        outcome: list[str] = []
        call = threading.Thread(target=lambda: outcome.append(a.deliver(row)))
        call.start()
        time.sleep(0.3)
        assert b.claim() == {}  # renewed as the call started
        time.sleep(2.7)  # past the lease renewed at the start: only the heartbeat keeps it
        assert b.claim() == {}
        call.join(timeout=10)
        assert outcome == [DONE]
        assert list(backend.by_key_counts.values()) == [1]
    finally:
        a.close()
        b.close()


def test_a_delivery_still_well_within_its_lease_writes_only_its_outcome(
    client, submit_key, app, backend
):
    """The call starts on a read: the heartbeat keeps the lease, so a second write per
    delivery (a second wait for SQLite's one writer) bought nothing."""
    gateway = app.extensions["open311"]
    for number in range(3):
        r = client.post(
            "/open311/v2/requests.json",
            data={
                "service_code": "POTHOLE",
                "address_string": f"{number} Elm",
                "api_key": submit_key,
            },
        )
        assert r.status_code == 200
    outbox = Outbox(gateway.db, gateway.catalog, build_adapters(gateway.catalog), owner="a")
    writes: list[int] = []

    def begun(conn: Any) -> None:
        if conn.get_execution_options().get("writer"):
            writes.append(1)

    try:
        [rows] = outbox.claim().values()
        event.listen(gateway.db.engine, "begin", begun)
        try:
            assert outbox.deliver_batch(rows) == [DONE, DONE, DONE]
        finally:
            event.remove(gateway.db.engine, "begin", begun)
    finally:
        outbox.close()
    assert len(writes) == 3  # one acknowledgement each
    assert sorted(backend.by_key_counts.values()) == [1, 1, 1]
