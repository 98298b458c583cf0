"""A back-end that is down, failing, slow or rude: reports are still accepted, stay queued,
and each is delivered exactly once when the back-end returns."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from open311.db import utcnow
from open311.models import Delivery, DestinationState
from tests.helpers import parse
from tests.support.plugin import FAST

pytestmark = pytest.mark.serial  # timed: run alone, after the parallel part (Makefile)


def post(client, fmt, key, n=1):
    ids = []
    for i in range(n):
        r = client.post(
            f"/open311/v2/requests.{fmt}",
            data={"service_code": "POTHOLE", "address_string": f"{i} Elm St", "api_key": key},
        )
        assert r.status_code == 200, r.data
        ids.append(parse(r, fmt)[0]["service_request_id"])
    return ids


def rows(database):
    with database.read() as session:
        return session.scalars(select(Delivery).order_by(Delivery.id)).all()


def later(minutes=60):
    return utcnow() + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("mode", "error_part"),
    [
        ("error500", "500"),
        ("slow", "timed out"),
        ("malformed", "JSON"),
        ("noid", "id"),
        ("ratelimited", "429"),
    ],
)
def test_retryable_failure_keeps_report_queued_then_delivers_once(
    client, submit_key, database, outbox, backend, fmt, mode, error_part
):
    backend.mode = mode
    backend.slow_seconds = 1.5  # the adapter's read timeout is 1 s
    [rid] = post(client, fmt, submit_key)
    assert outbox.run_once() == 1
    [row] = rows(database)
    assert row.state == "pending" and row.attempts == 1
    assert error_part.lower() in (row.last_error or "").lower(), row.last_error
    assert row.next_attempt_at > utcnow() - timedelta(seconds=1)
    if mode == "ratelimited":  # Retry-After: 120 is honoured (capped by the policy)
        assert row.next_attempt_at >= utcnow() + timedelta(seconds=FAST.backoff_cap - 1)
    # Backing off: not due until next_attempt_at (full jitter may make that very soon).
    assert outbox.run_once(now=row.next_attempt_at - timedelta(seconds=1)) == 0
    if mode == "slow":
        # The back-end finishes the slow request after the gateway gave up on it.
        deadline = time.monotonic() + 5
        while not backend.by_key_counts and time.monotonic() < deadline:
            time.sleep(0.05)
    backend.mode = "ok"
    assert outbox.run_once(now=later()) == 1
    [row] = rows(database)
    assert row.state == "done" and row.last_error is None and row.attempts == 2
    counts = backend.by_key_counts
    if mode in ("noid", "slow"):
        # The back-end took the first try but answered without an id (or too late), so
        # the gateway sent it again; the Idempotency-Key keeps that to one work order.
        assert counts == {f"{rid}:works": 2} and len(backend.orders) == 1
    else:
        assert counts == {f"{rid}:works": 1}, counts


def test_refused_connections_then_backend_returns(
    client, submit_key, database, outbox, backend, fmt
):
    port = backend.port
    backend.stop()  # down: nothing listens on the port
    ids = post(client, fmt, submit_key, n=3)  # still accepted
    outbox.run_once()
    assert {r.state for r in rows(database)} == {"pending"}
    assert all("connect" in (r.last_error or "").lower() for r in rows(database))
    backend.start(port)
    outbox.run_once(now=later())
    outbox.run_once(now=later(120))
    assert {r.state for r in rows(database)} == {"done"}
    assert backend.by_key_counts == {f"{rid}:works": 1 for rid in ids}


def test_permanent_failure_is_dead_with_the_error_kept(
    client, submit_key, database, outbox, backend, fmt
):
    backend.mode = "reject400"
    post(client, fmt, submit_key)
    outbox.run_once()
    [row] = rows(database)
    assert row.state == "dead" and row.attempts == 1
    assert "400" in row.last_error
    backend.mode = "ok"
    assert outbox.run_once(now=later()) == 0  # dead stays dead until an operator retries


def test_retries_are_exhausted_then_dead(client, submit_key, database, outbox, backend, fmt):
    backend.mode = "error500"
    post(client, fmt, submit_key)
    when = utcnow()
    for _ in range(FAST.max_attempts):
        when += timedelta(hours=1)
        outbox.run_once(now=when)
    [row] = rows(database)
    assert row.state == "dead" and row.attempts == FAST.max_attempts
    assert "500" in row.last_error


def test_failing_destination_is_paused_not_hammered(
    client, submit_key, database, outbox, backend, fmt
):
    backend.mode = "error500"
    post(client, fmt, submit_key, n=FAST.pause_after + 2)
    outbox.run_once()  # batch of 5: the third failure pauses the destination
    with database.read() as session:
        state = session.get(DestinationState, "works")
    assert state.consecutive_failures >= FAST.pause_after
    assert state.paused_until is not None and state.paused_until > utcnow()
    # A moment inside the pause (relative to its end: on a loaded machine the batch above
    # can take longer than the margin a fixed "now + 4 s" left): nothing is claimed.
    inside = state.paused_until - timedelta(seconds=1)
    assert outbox.run_once(now=inside) == 0
    backend.mode = "ok"
    assert outbox.run_once(now=later()) > 0
    with database.read() as session:
        state = session.get(DestinationState, "works")
    assert state.consecutive_failures == 0 and state.paused_until is None
    assert len(backend.received) > 0


def test_a_paused_destination_does_not_block_others(client, submit_key, database, outbox, backend):
    backend.mode = "error500"
    post(client, "json", submit_key, n=FAST.pause_after)
    outbox.drain()
    r = client.post(
        "/open311/v2/requests.json",
        data={"service_code": "TENANT", "address_string": "2 Oak", "api_key": submit_key},
    )
    assert r.status_code == 200
    outbox.run_once()
    tenants = [row for row in rows(database) if row.destination == "tenants"]
    assert [t.state for t in tenants] == ["done"]


def test_personal_values_echoed_by_a_backend_are_scrubbed():
    from open311.outbox import scrub

    assert "[redacted]" in scrub("bad email jane@example.org", _ticket("jane@example.org"))


def _ticket(email):
    from adapters.base import Contact, Ticket

    return Ticket(
        request_id="1",
        idempotency_key="1:x",
        destination="x",
        jurisdiction_id="j",
        service_code="c",
        service_name="n",
        requested_datetime=utcnow(),
        contact=Contact(email=email),
    )
