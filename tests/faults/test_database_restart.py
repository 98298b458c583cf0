"""The database restarted under load: a throwaway PostgreSQL the test starts itself (initdb
in a temporary folder, its own port; never the shared server) is stopped for 5 s while two
worker processes deliver. Nothing is lost, and a report reaches the back-end twice only if
its call was in flight when the database went away, with the same idempotency key."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from open311 import create_app
from open311.migrate import upgrade
from open311.models import Delivery
from open311.routing import Destination
from open311.store import NewReport, create_request
from tests.support.plugin import DELIVERY_CONFIG

pytestmark = pytest.mark.serial  # timed: run alone, after the parallel part (Makefile)

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


class ThrowawayPostgres:
    def __init__(self, folder: Path) -> None:
        self.bin = Path(BINARIES[-1])
        self.data = folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        # initdb and postgres refuse to run as root: run them as the postgres user then.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        folder.mkdir(parents=True, exist_ok=True)
        if self.prefix:
            shutil.chown(folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.prefix, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.data} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-t", "30", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    if not BINARIES or (os.geteuid() == 0 and not shutil.which("runuser")):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    # Not under pytest's folder: the postgres user must be able to reach it.
    folder = Path(tempfile.mkdtemp(prefix="open311-pg-"))
    try:
        server = ThrowawayPostgres(folder)
        server.start()
        yield server
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def queue(gateway: Any, n: int, start: int) -> None:
    service = gateway.catalog.service("testcity.gov", "POTHOLE")
    with gateway.db.write() as session, session.begin():
        for i in range(start, start + n):
            create_request(
                session,
                NewReport(
                    service=service,
                    prefix="TC-",
                    fields={"address_string": f"{i} Restart St"},
                    attributes={},
                    contact={},
                    destinations=[Destination("works", True)],
                ),
            )


def states(gateway: Any) -> list[str]:
    with gateway.db.read() as session:
        return list(session.scalars(select(Delivery.state)).all())


def test_database_restarted_under_load_loses_nothing(postgres, backend, monkeypatch):
    monkeypatch.setenv("TEST_BACKEND_URL", backend.url)
    upgrade(postgres.url)
    app = create_app(
        {"DATABASE_URL": postgres.url, "TESTING": True, "CONFIG": str(DELIVERY_CONFIG)}
    )
    gateway = app.extensions["open311"]
    backend.mode = "slow"
    backend.slow_seconds = 0.1  # calls are in flight a good part of the time
    env = {
        **os.environ,
        "OPEN311_DATABASE_URL": postgres.url,
        "OPEN311_CONFIG": str(DELIVERY_CONFIG),
    }
    command = [sys.executable, "-m", "open311.cli", "worker", "--sync-every", "0"]
    log = open(Path(tempfile.gettempdir()) / "open311-restart-workers.log", "w")  # noqa: SIM115
    workers = [subprocess.Popen(command, env=env, stderr=log) for _ in range(2)]
    try:
        queue(gateway, 100, 0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and states(gateway).count("done") < 20:
            time.sleep(0.1)  # the workers start, then deliver
        assert states(gateway).count("done") >= 20, Path(log.name).read_text()
        postgres.stop()
        time.sleep(5)  # away
        postgres.start()
        restarted = time.monotonic()
        queue(gateway, 50, 100)  # and the load goes on
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and set(states(gateway)) != {"done"}:
            time.sleep(0.3)
        recovered = time.monotonic() - restarted
        final = states(gateway)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        gateway.db.dispose()
        log.close()
    counts = backend.by_key_counts
    repeated = {k: v for k, v in counts.items() if v > 1}
    print(
        f"database stopped 5s under load: 150 reports delivered {recovered:.1f}s after the "
        f"restart; repeated {repeated}"
    )
    assert final.count("done") == 150, {s: final.count(s) for s in set(final)}
    assert len(counts) == 150 and len(backend.orders) == 150
    assert len(repeated) <= 2 and all(v == 2 for v in repeated.values())  # ≤ one call per worker
