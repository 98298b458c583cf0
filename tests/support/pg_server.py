"""A PostgreSQL server of the test's own (initdb into a temporary folder, its own port on
127.0.0.1), so a test can stop and start the database under a running gateway without
touching the shared server. Skips when the server binaries are absent."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import free_port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """initdb once, then start() and stop() as often as a test likes (same port)."""

    def __init__(self, folder: Path) -> None:
        binaries = _binaries()
        if binaries is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bin = binaries
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:  # initdb refuses to run as root: run it as postgres
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a postgres user to own the server")
            os.chown(folder, user.pw_uid, user.pw_gid)
            uid, gid = user.pw_uid, user.pw_gid
            self._as = {"user": uid, "group": gid, "extra_groups": []}
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=self.folder,
            **self._as,
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        options = f"-F -p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
        log = str(self.folder / "server.log")
        self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-o", options, "-l", log
        )
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def stop_if_running(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()


def own_postgres() -> Any:
    """A started PostgresServer in a fresh folder under /tmp (pytest's folders are private
    to the test user, and the server may run as postgres); stopped and removed after."""
    import tempfile
    from contextlib import contextmanager

    @contextmanager
    def scope() -> Any:
        folder = Path(tempfile.mkdtemp(prefix="open311-pg-"))
        try:
            server = PostgresServer(folder).start()
            try:
                yield server
            finally:
                server.stop_if_running()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return scope()
