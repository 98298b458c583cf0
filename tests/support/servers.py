"""Real servers on loopback for tests: a free port, and `open311 serve` as an operator
runs it (the installed console script), waited for and stopped with what it spawned."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A loopback port that was free a moment ago (left unused: one that refuses)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def open311_command() -> list[str]:
    # The console script installed next to this interpreter: what an operator runs.
    script = Path(sys.executable).parent / "open311"
    if script.exists():
        return [str(script)]
    found = shutil.which("open311")
    return [found] if found else [sys.executable, "-m", "open311.cli"]


def wait_until_up(root: str, process: subprocess.Popen[bytes], timeout: float = 45.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"open311 serve exited with {process.returncode}")
        try:
            # A worker still booting on a busy machine may take seconds to answer first.
            if requests.get(f"{root}/open311/v2/discovery.json", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"open311 serve did not answer within {timeout:.0f}s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    # The server was started in its own session, so its group holds only what it spawned
    # (gunicorn workers, the embedded delivery worker) and nothing else.
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
