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
    database_url: str, port: int, workers: int, threads: int, log: Path, worker_class: str
) -> subprocess.Popen[bytes]:
    """`open311 serve` on loopback, in its own session so its whole group can be stopped.
    The embedded delivery worker is off: this measures the API alone."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
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
                "--no-worker",
            ],
            env=gateway_env(database_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"open311 serve exited ({log.read_text(errors='replace')[-2000:]})")
        try:
            if requests.get(f"{root}/open311/v2/discovery.json", timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.1)
    stop_group(process)
    raise RuntimeError("open311 serve did not answer within 60 s")


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
