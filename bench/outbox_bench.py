"""The outbox: N reports queued in the database, delivered by 1 or 2 `open311 worker --once`
processes to a fast loopback back-end. What limits it is the database round trips per
delivery (claim, renew, ack, the receipt on the public record), not the back-end."""

from __future__ import annotations

import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from open311.catalog import load_catalog
from open311.db import Database
from open311.migrate import upgrade
from open311.models import Delivery
from open311.routing import Router
from open311.store import NewReport, create_request

from .backend import FastBackend
from .databases import Databases
from .procs import CONFIG, gateway_env, open311_command, stop_group

WORKER_TIMEOUT = 120.0  # a run that takes longer is stopped and reported as such


def seed(url: str, reports: int) -> float:
    """Queue `reports` potholes (one delivery each) the way the API does; seconds taken."""
    catalog = load_catalog(CONFIG)
    router = Router(catalog)
    service = catalog.service("bench.example", "POTHOLE")
    assert service is not None
    database = Database(url)
    started = time.perf_counter()
    try:
        for offset in range(0, reports, 500):
            with database.write() as session, session.begin():
                for i in range(offset, min(reports, offset + 500)):
                    fields = {"description": f"bench {i}", "lat": 41.3, "long": -72.9}
                    create_request(
                        session,
                        NewReport(
                            service=service,
                            prefix="B-",
                            fields=fields,
                            attributes={},
                            contact={},
                            destinations=router.route(service, 41.3, -72.9, {}),
                            agency_responsible="Benchmark Public Works",
                        ),
                    )
    finally:
        database.dispose()
    return time.perf_counter() - started


def _run_workers(url: str, backend_url: str, count: int, log: Path) -> float:
    """Start `count` workers at once; seconds until the last one has exited."""
    env = gateway_env(url, backend_url)
    started = time.perf_counter()
    with log.open("ab") as out:
        processes = [
            subprocess.Popen(
                [*open311_command(), "worker", "--once"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for _ in range(count)
        ]
        deadline = started + WORKER_TIMEOUT
        for process in processes:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.perf_counter()))
        for process in processes:
            stop_group(process)  # only if it is still running past the deadline
    return time.perf_counter() - started


def _states(url: str) -> dict[str, int]:
    database = Database(url)
    try:
        with database.read() as session:
            rows = session.execute(
                select(Delivery.state, func.count()).group_by(Delivery.state)
            ).all()
    finally:
        database.dispose()
    return {state: n for state, n in rows}


def run(
    databases: Databases,
    reports: int,
    worker_counts: tuple[int, ...],
    log: Path,
    backend_delay: float = 0.0,
) -> list[dict[str, Any]]:
    results = []
    with (
        FastBackend(backend_delay) as backend,
        databases.fresh("empty") as empty,
        databases.fresh("seeded") as seeded,
    ):
        upgrade(empty)
        upgrade(seeded)
        seed_s = seed(seeded, reports)
        for count in worker_counts:
            # What the workers cost before they deliver anything: start-up, schema check, one
            # empty claim and one status pull, with `count` of them starting at once on the
            # same cores. Subtracted below to show the steady rate.
            startup = _run_workers(empty, backend.url, count, log)
            backend.reset()
            with databases.copy(seeded, f"w{count}") as url:
                wall = _run_workers(url, backend.url, count, log)
                states = _states(url)
            distinct, repeats = backend.counts()
            steady = wall - startup
            done = states.get("done", 0)
            results.append(
                {
                    "database": databases.label,
                    "workers": count,
                    "reports": reports,
                    "backend_ms": round(backend_delay * 1000),
                    "seed_s": round(seed_s, 2),
                    "wall_s": round(wall, 2),
                    "worker_startup_s": round(startup, 2),
                    "deliveries_per_s": round(done / wall, 1),
                    "deliveries_per_s_after_startup": round(done / steady, 1)
                    if steady > 0
                    else None,
                    "done": done,
                    "not_done": sum(n for s, n in states.items() if s != "done"),
                    "received_distinct": distinct,
                    "received_twice": repeats,
                }
            )
    return results
