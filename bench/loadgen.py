"""Load generators: wrk (Debian's package) when it is there, else a small Python one.

Both are bounded: wrk by its duration, the Python generator by a duration and a request
count. Both run on the same cores as the server, so the figures are lower bounds."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests


@dataclass
class LoadResult:
    tool: str
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # answers other than 2xx/3xx, plus socket errors

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_wrk(allow_install: bool) -> str | None:
    """wrk's path; installed with apt-get when missing, allowed and running as root."""
    found = shutil.which("wrk")
    if found or not allow_install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                ["apt-get", *args], env=env, capture_output=True, timeout=180, check=False
            )

    apt_get("install", "-y", "-q", "wrk")
    if not shutil.which("wrk"):
        # The package lists may be stale or missing: refresh them once and try again.
        apt_get("update", "-q")
        apt_get("install", "-y", "-q", "wrk")
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
    match = re.search(r"wrk (\S+)", done.stdout + done.stderr)
    return match.group(1) if match else "?"


# wrk reports its own figures from a Lua `done` hook, exactly, instead of us parsing the
# rounded human-readable summary.
_LUA = """
wrk.method = {method}
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _lua_string(value: str | None) -> str:
    if value is None:
        return "nil"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(
    wrk: str,
    url: str,
    *,
    seconds: float,
    connections: int,
    method: str = "GET",
    body: str | None = None,
    content_type: str | None = None,
) -> LoadResult:
    headers = f'wrk.headers["Content-Type"] = {_lua_string(content_type)}' if content_type else ""
    script = _LUA.format(method=_lua_string(method), body=_lua_string(body), headers=headers)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.lua"
        path.write_text(script, encoding="utf-8")
        done = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(path),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    match = re.search(r"BENCHJSON (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", done.stdout)
    if match is None:
        raise RuntimeError(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    count, duration_us, p50, p99, status_errors, socket_errors = map(int, match.groups())
    elapsed = duration_us / 1e6
    return LoadResult(
        tool="wrk",
        connections=connections,
        requests=count,
        seconds=round(elapsed, 2),
        rps=round(count / elapsed, 1) if elapsed else 0.0,
        p50_ms=round(p50 / 1000, 2),
        p99_ms=round(p99 / 1000, 2),
        errors=status_errors + socket_errors,
    )


def run_python(
    url: str,
    *,
    seconds: float,
    connections: int,
    method: str = "GET",
    body: str | None = None,
    content_type: str | None = None,
    max_requests: int = 50_000,
) -> LoadResult:
    """Threads, each with a keep-alive session, until the time or the count runs out."""
    headers = {"Content-Type": content_type} if content_type else {}
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    issued = 0
    deadline = time.monotonic() + seconds

    def one_client() -> None:
        nonlocal errors, issued
        session = requests.Session()
        mine: list[float] = []
        failed = 0
        while time.monotonic() < deadline:
            with lock:
                if issued >= max_requests:
                    break
                issued += 1
            started = time.perf_counter()
            try:
                answer = session.request(method, url, data=body, headers=headers, timeout=10)
                failed += answer.status_code >= 400
            except requests.RequestException:
                failed += 1
            mine.append(time.perf_counter() - started)
        session.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    started = time.monotonic()
    threads = [threading.Thread(target=one_client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 2)

    return LoadResult(
        tool="python",
        connections=connections,
        requests=len(latencies),
        seconds=round(elapsed, 2),
        rps=round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        p50_ms=pct(50),
        p99_ms=pct(99),
        errors=errors,
    )


class LoadGenerator:
    def __init__(self, wrk: str | None, connections: int) -> None:
        self.wrk = wrk
        self.connections = connections

    @property
    def description(self) -> str:
        if self.wrk:
            return f"wrk {wrk_version(self.wrk)} -t1 -c{self.connections}"
        return f"Python threads + requests sessions, {self.connections} clients"

    def run(self, url: str, seconds: float, **request: Any) -> LoadResult:
        if self.wrk:
            return run_wrk(self.wrk, url, seconds=seconds, connections=self.connections, **request)
        return run_python(url, seconds=seconds, connections=self.connections, **request)
