"""The load generator: wrk (Debian's package), driven by a Lua script the bench writes.

wrk runs for a fixed time with a fixed number of connections; its `done` hook prints the
exact figures (requests, duration, latency percentiles, socket errors) and a `response`
hook counts every answer that is not 2xx, so a run that got errors cannot pass for a fast
one. wrk runs on the same cores as the servers and the database: the figures are what the
machine does with all of them busy, for the gateway and for the ceiling alike."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

INSTALL_HINT = "apt-get install -y wrk   (Debian/Ubuntu; as root)"


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int  # answers with a status outside 200-299
    socket_errors: int  # connect, read, write errors and timeouts
    latency_text: str  # wrk --latency's own distribution, as it printed it

    @property
    def failed(self) -> int:
        return self.non_2xx + self.socket_errors

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
                ["apt-get", *args], env=env, capture_output=True, timeout=300, check=False
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


_LUA = """
local paths = {paths}
local method = {method}
local body = {body}
local headers = {{}}
{headers}
local i = 0
local threads = {{}}
non2xx = 0

function setup(thread)
  table.insert(threads, thread)
end

function request()
  i = i % #paths + 1
  return wrk.format(method, paths[i], headers, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, bad, e.connect + e.read + e.write + e.timeout))
end
"""


def _lua_string(value: str | None) -> str:
    if value is None:
        return "nil"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def script(
    paths: list[str],
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    """The Lua script for one scenario: its requests in turn, and the counting hooks."""
    return _LUA.format(
        paths="{" + ", ".join(_lua_string(p) for p in paths) + "}",
        method=_lua_string(method),
        body=_lua_string(body),
        headers="\n".join(
            f"headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in (headers or {}).items()
        ),
    )


class Wrk:
    def __init__(self, wrk: str, connections: int, threads: int) -> None:
        self.wrk = wrk
        self.connections = connections
        self.threads = threads

    @property
    def description(self) -> str:
        return f"wrk {wrk_version(self.wrk)} -t{self.threads} -c{self.connections} --latency"

    def run(
        self,
        root: str,
        paths: list[str],
        seconds: float,
        *,
        method: str = "GET",
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> LoadResult:
        """`paths` are requested in turn against `root` (http://host:port)."""
        with tempfile.TemporaryDirectory() as folder:
            lua = Path(folder) / "bench.lua"
            lua.write_text(script(paths, method, body, headers), encoding="utf-8")
            done = subprocess.run(
                [
                    self.wrk,
                    f"-t{self.threads}",
                    f"-c{self.connections}",
                    f"-d{max(1, round(seconds))}s",
                    "--timeout",
                    "10s",
                    "--latency",
                    "-s",
                    str(lua),
                    root,
                ],
                capture_output=True,
                text=True,
                timeout=seconds + 120,
                check=False,
            )
        match = re.search(r"BENCHJSON" + r" (\d+)" * 8, done.stdout)
        if match is None:
            raise RuntimeError(f"wrk failed: {done.stdout[-800:]} {done.stderr[-800:]}")
        count, duration_us, p50, p95, p99, top, non_2xx, socket_errors = map(int, match.groups())
        elapsed = duration_us / 1e6
        latency = re.search(r"Latency Distribution\n(.*?)\n\s*\d+ requests", done.stdout, re.S)
        return LoadResult(
            requests=count,
            seconds=round(elapsed, 2),
            rps=round(count / elapsed, 1) if elapsed else 0.0,
            p50_ms=round(p50 / 1000, 2),
            p95_ms=round(p95 / 1000, 2),
            p99_ms=round(p99 / 1000, 2),
            max_ms=round(top / 1000, 2),
            non_2xx=non_2xx,
            socket_errors=socket_errors,
            latency_text=latency.group(1).strip() if latency else "",
        )
