"""Faults in the middle of delivery, counted: reports in, deliveries out at a recording
loopback back-end (tests/support/backend.py), by idempotency key. Scaled down from the
issue's figures but the same shape; each test is bounded in time.

- the back-end goes down during a burst and comes back: everything delivered, once; the
  first delivery within one pause length of its return, then the rest without a stop;
- one destination hangs while another is healthy: the healthy one's delay stays small;
- a worker process is SIGKILLed in the middle of a call: its other claimed rows are
  delivered by the other worker within its lease and 15 s, and only the call in flight
  may be repeated, with the same idempotency key.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from open311.delivery import build_adapters
from open311.models import Delivery
from open311.outbox import Outbox, OutboxPolicy
from open311.routing import Destination
from open311.store import NewReport, create_request
from tests.support.backend import Backend
from tests.support.plugin import DELIVERY_CONFIG

pytestmark = pytest.mark.serial  # timed: run alone, after the parallel part (Makefile)

# The default policy with its seconds scaled down about tenfold. The scaled outage lasts
# 8 s: pauses of 2 and 4 s, then the back-end returns during the first capped 8 s pause,
# the case the recovery bound is about (a longer outage only adds more capped rounds;
# tests/outbox/test_isolation.py pins the cap).
SCALED = OutboxPolicy(
    backoff_base=1.0, backoff_cap=8.0, pause_after=5, pause_base=2.0, pause_cap=8.0
)
# OPEN311_FAULTS_FULL=1 runs the outage at the size with the real policy instead:
# 2,000 reports, back-end down 120 s, default pauses and back-off (about 5 minutes; not in
# CI). docs/deployment.md quotes its figures.
FULL = os.environ.get("OPEN311_FAULTS_FULL") == "1"
OUTAGE = (
    {"policy": OutboxPolicy(), "before": 1000, "during": 1000, "down": 120.0}
    if FULL
    else {"policy": SCALED, "before": 100, "during": 100, "down": 8.0}
)


def queue(gateway: Any, n: int, service: str = "POTHOLE", to: tuple[str, ...] = ("works",)):
    service_row = gateway.catalog.service("testcity.gov", service)
    with gateway.db.write() as session, session.begin():
        for i in range(n):
            create_request(
                session,
                NewReport(
                    service=service_row,
                    prefix="TC-",
                    fields={"address_string": f"{i} Fault St"},
                    attributes={},
                    contact={},
                    destinations=[Destination(d, k == 0) for k, d in enumerate(to)],
                ),
            )


def deliveries(gateway: Any, destination: str = "works") -> list[Delivery]:
    with gateway.db.read() as session:
        return list(
            session.scalars(select(Delivery).where(Delivery.destination == destination)).all()
        )


def wait_until(predicate, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class Workers:
    """N outbox workers running in threads of this process, as `open311 worker` runs."""

    def __init__(self, gateway: Any, n: int, policy: OutboxPolicy) -> None:
        self.stop = threading.Event()
        self.outboxes = [
            Outbox(gateway.db, gateway.catalog, build_adapters(gateway.catalog), policy)
            for _ in range(n)
        ]
        self.threads = [
            threading.Thread(target=o.run_forever, args=(self.stop, 0.2), daemon=True)
            for o in self.outboxes
        ]
        for t in self.threads:
            t.start()

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        for o in self.outboxes:
            o.close()


def test_backend_down_during_a_burst_then_back(app, backend):
    gateway = app.extensions["open311"]
    policy, down_for = OUTAGE["policy"], OUTAGE["down"]
    total = OUTAGE["before"] + OUTAGE["during"]
    workers = Workers(gateway, 2, policy)
    try:
        queue(gateway, OUTAGE["before"])
        port = backend.port
        time.sleep(0.5)
        backend.stop()  # down in the middle of the burst
        down_at = time.monotonic()
        for _ in range(10):  # the burst goes on while it is down
            queue(gateway, OUTAGE["during"] // 10)
            time.sleep(0.5)
        time.sleep(max(0.0, down_for - (time.monotonic() - down_at)))
        backend.start(port)
        back_at = time.monotonic()
        waiting = len(backend.by_key_counts)
        wait_until(lambda: len(backend.by_key_counts) > waiting, timeout=policy.pause_cap + 60)
        first = time.monotonic() - back_at
        done = wait_until(
            lambda: all(d.state == "done" for d in deliveries(gateway)),
            timeout=policy.pause_cap + 60 if not FULL else 240,
        )
        recovered = time.monotonic() - back_at
    finally:
        workers.close()
    rows = deliveries(gateway)
    counts = backend.by_key_counts
    with backend.lock:
        after = sorted(t for t in backend.arrivals if t >= back_at)
    gaps = [later - earlier for earlier, later in pairwise(after)]
    print(
        f"outage {down_for:.0f}s, {total} reports: first delivery {first:.1f}s and all "
        f"delivered {recovered:.1f}s after the back-end returned ({len(after)} rows then, "
        f"longest gap between two {max(gaps, default=0):.2f}s)"
    )
    assert done, {d.state for d in rows}
    assert len(rows) == total and len(counts) == total
    assert max(counts.values()) == 1  # refused connections: nothing was received twice
    # What the gateway controls is waiting, not this machine's speed. The first delivery
    # comes within one capped pause of the return (the probe, plus polls). From then on the
    # queue drains without a stop: no gap between two arrivals of even half the shortest
    # pause, so nothing paused again and nothing held the rest back after the probe (a
    # cool-down of one pause_base after it showed a 1.9 s gap; a healthy drain's longest
    # is about 0.03 s). The drain's length is throughput: printed, bounded only by the wait
    # above (CI's full run with coverage drained these 200 rows at about 75 ms a row).
    # tests/outbox/test_isolation.py pins that backed-off rows are due again at the return.
    assert first <= policy.pause_cap + 3, first
    assert after and max(gaps, default=0) < policy.pause_base / 2, max(gaps, default=0)
    if FULL:
        assert recovered <= 120, recovered  # the target after a 120 s outage


def two_backend_config(tmp_path: Path) -> Path:
    text = DELIVERY_CONFIG.read_text()
    text = text.replace(
        'url: "${TEST_BACKEND_URL}/health-cases"', 'url: "${TEST_BACKEND2_URL}/health-cases"'
    )
    text = text.replace("timeout: {connect: 1, read: 1}", "timeout: {connect: 1, read: 2}")
    path = tmp_path / "two-backends.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def settings(db_url, backend, tmp_path, monkeypatch):
    healthy = Backend().start()
    monkeypatch.setenv("TEST_BACKEND_URL", backend.url)
    monkeypatch.setenv("TEST_BACKEND2_URL", healthy.url)
    yield {"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(two_backend_config(tmp_path))}
    healthy.stop()


def test_one_destination_hanging_does_not_delay_another(app, backend):
    gateway = app.extensions["open311"]
    backend.mode = "slow"
    backend.slow_seconds = 60.0  # works never answers: every call runs to its deadline
    never_pause = OutboxPolicy(pause_after=10_000, backoff_base=0.5, backoff_cap=1.0)
    workers = Workers(gateway, 2, never_pause)
    try:
        for _ in range(8):  # a report a second to works, each with a copy to health
            queue(gateway, 5, service="SPILL", to=("works", "health"))
            time.sleep(1)
        assert wait_until(
            lambda: all(d.state == "done" for d in deliveries(gateway, "health")), timeout=15
        )
    finally:
        workers.close()
    delays = sorted(
        (d.delivered_at - d.created_at).total_seconds() for d in deliveries(gateway, "health")
    )
    p95 = delays[int(len(delays) * 0.95) - 1]
    print(f"hanging works, healthy health: 40 copies, delay p50 {delays[20]}s p95 {p95}s")
    assert len(delays) == 40
    assert p95 <= 5, delays
    assert any(d.state != "done" for d in deliveries(gateway, "works"))  # it really hung


def test_a_worker_killed_mid_call_loses_nothing_and_repeats_only_that_call(app, backend, db_url):
    gateway = app.extensions["open311"]
    backend.mode = "slow"
    backend.slow_seconds = 0.5  # inside the 2 s read timeout: each call is in flight a while
    queue(gateway, 40)
    env = {
        **os.environ,
        "OPEN311_DATABASE_URL": db_url,
        "OPEN311_CONFIG": str(gateway.catalog.source),
    }
    # A 5 s lease instead of the default 20 s: the take-over waits out the lease, and the
    # option is what an operator would shorten it with.
    lease = 5
    command = [
        *(sys.executable, "-m", "open311.cli", "worker"),
        *("--sync-every", "0", "--lease", str(lease)),
    ]
    victim = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    survivor = None
    try:
        # Let the victim claim its batch and start a call, then kill it without warning.
        assert wait_until(
            lambda: any(
                d.lease_owner and f":{victim.pid}:" in d.lease_owner for d in deliveries(gateway)
            ),
            timeout=30,
        )
        time.sleep(1.2)
        held = [
            d.id
            for d in deliveries(gateway)
            if d.state == "inflight" and f":{victim.pid}:" in (d.lease_owner or "")
        ]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        survivor = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        assert wait_until(
            lambda: all(d.state == "done" for d in deliveries(gateway) if d.id in held),
            timeout=45,
        )
        taken_over = time.monotonic() - killed_at
        assert wait_until(lambda: all(d.state == "done" for d in deliveries(gateway)), timeout=60)
    finally:
        for process in (victim, survivor):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    counts = backend.by_key_counts
    repeated = {k: v for k, v in counts.items() if v > 1}
    print(
        f"worker SIGKILLed holding {len(held)} rows: delivered by the other "
        f"{taken_over:.1f}s later; repeated: {repeated}"
    )
    assert len(held) >= 2
    # The lease, then the new worker's start, a claim and 8 calls of 0.5 s (10 s here); a
    # worker that ignored --lease would take over after 20 s and more.
    assert taken_over <= lease + 15, taken_over
    assert len(counts) == 40 and len(backend.orders) == 40  # one work order each
    assert len(repeated) <= 1 and all(v == 2 for v in repeated.values())  # the call in flight
