"""`open311 demo` refuses to start, naming the port, when a port it needs is taken (a
second demo would otherwise deliver into the first one's work-order system)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .test_demo_live import free_port


@pytest.mark.parametrize("taken", ["api", "workorders"])
def test_a_taken_port_stops_the_demo_with_its_number(tmp_path: Path, taken: str) -> None:
    api, orders = free_port(), free_port()
    busy = api if taken == "api" else orders
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN311_")}
    env["OPEN311_DATABASE_URL"] = f"sqlite:///{tmp_path}/demo.db"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", busy))
        holder.listen()
        done = subprocess.run(
            [sys.executable, "-m", "open311.cli", "demo", "--port", str(api),
             "--workorders-port", str(orders)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"port {busy} on 127.0.0.1" in done.stderr and "already in use" in done.stderr
    what = "--port" if taken == "api" else "--workorders-port"
    assert what in done.stderr
    assert not (tmp_path / "demo.db").exists()  # refused before touching anything
