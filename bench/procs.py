"""Starting and stopping `open311` processes, and reading their memory from /proc."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

BENCH = Path(__file__).resolve().parent
CONFIG = BENCH / "config.yaml"


def open311_command() -> list[str]:
    # The console script next to this interpreter is what an operator runs.
    script = Path(sys.executable).parent / "open311"
    if script.exists():
        return [str(script)]
    found = shutil.which("open311")
    return [found] if found else [sys.executable, "-m", "open311.cli"]


def gateway_env(database_url: str, backend_url: str | None = None) -> dict[str, str]:
    """The environment for an `open311` child: the bench's config and database only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN311_")}
    env["OPEN311_CONFIG"] = str(CONFIG)
    env["OPEN311_DATABASE_URL"] = database_url
    if backend_url:
        env["OPEN311_BENCH_BACKEND_URL"] = backend_url
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    database_url: str,
    port: int,
    workers: int,
    threads: int,
    log: Path,
    *,
    backend_url: str | None = None,
    with_worker: bool = False,
    worker_class: str = "sync",
) -> subprocess.Popen[bytes]:
    """`open311 serve` on loopback, in its own session so its whole group can be stopped.
    `with_worker`: with its embedded delivery worker, as an operator runs it."""
    command = [
        *open311_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        worker_class,
        "--with-worker" if with_worker else "--no-worker",
    ]
    return _started(command, gateway_env(database_url, backend_url), log, port, "open311 serve")


def start_ceiling(
    answers: Path, port: int, workers: int, threads: int, log: Path, worker_class: str = "sync"
) -> Any:
    """The bare Flask app of bench/ceiling.py under the same gunicorn settings."""
    command = [
        sys.executable,
        "-m",
        "bench.ceiling",
        str(answers),
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        worker_class,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN311_")}
    env["PYTHONPATH"] = str(BENCH.parent)
    return _started(command, env, log, port, "the ceiling app", probe="/")


def _started(
    command: list[str],
    env: dict[str, str],
    log: Path,
    port: int,
    what: str,
    probe: str = "/open311/v2/discovery.json",
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({log.read_text(errors='replace')[-2000:]})")
        try:
            # Any answer will do (the ceiling answers 404 to what it was not given).
            requests.get(f"http://127.0.0.1:{port}{probe}", timeout=1)
            return process
        except requests.RequestException:
            pass
        time.sleep(0.1)
    stop_group(process)
    raise RuntimeError(f"{what} did not answer within 90 s")


def gunicorn_workers(master: int) -> list[int]:
    """gunicorn's workers: the master's children running its own command line (the
    embedded delivery worker is a child too, with a command line of its own)."""
    mine = _cmdline(master)
    return [pid for pid in children(master) if _cmdline(pid) == mine]


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a child started with start_new_session=True and everything it spawned."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; the fields follow the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_mb(pid: int | None = None) -> float:
    path = Path("/proc") / (str(pid) if pid else "self") / "status"
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0
