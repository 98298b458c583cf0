"""`make soak` (python -m bench.soak): a bounded mixed load on loopback.

`open311 serve` (two gunicorn workers and the embedded delivery worker, SQLite) takes
reads and writes from a few client threads for SOAK_SECONDS (default 120) while its one
back-end flaps: up, down (port closed), up, answering 500, up, slow (SOAK_SLOW seconds per
call), each phase SOAK_PHASE seconds. Then the back-end stays up until every accepted
report has arrived (at most SOAK_SETTLE seconds). Prints requests served, 5xx, reports
accepted and delivered, duplicates (a report the back-end accepted more than once), the
longest delay from acceptance to arrival, and the memory (RSS) of each process after a
short warm-up and at the end. Exit 1 when a report is missing or a 5xx was served.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from tests.support.backend import Backend

from .procs import children, free_port, gateway_env, open311_command, rss_mb, stop_group

SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))
PHASE = float(os.environ.get("SOAK_PHASE", "10"))
SLOW = float(os.environ.get("SOAK_SLOW", "3"))
SETTLE = float(os.environ.get("SOAK_SETTLE", "300"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "4"))
FLAPS = ("ok", "down", "ok", "error500", "ok", "slow")


class TimedBackend(Backend):
    """The recording back-end, noting when each report first arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.first_seen: dict[str, float] = {}

    def _handle(self, request: Any) -> Any:
        response = super()._handle(request)
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and response.status_code == 201 and key:
            with self.lock:
                self.first_seen.setdefault(key, time.monotonic())
        return response


class Load:
    def __init__(self, root: str, key: str) -> None:
        self.root = root
        self.key = key
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.accepted: dict[str, float] = {}  # service_request_id -> when accepted

    def client(self, until: float, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        base = f"{self.root}/open311/v2"
        while time.monotonic() < until:
            roll = rng.random()
            try:
                if roll < 0.2:
                    data = {"api_key": self.key, "service_code": "STREETLIGHT",
                            "address_string": f"{rng.randint(1, 999)} Soak St",
                            "description": "soak"}  # fmt: skip
                    answer = session.post(f"{base}/requests.json", data=data, timeout=30)
                    if answer.status_code == 200:
                        rid = answer.json()[0]["service_request_id"]
                        with self.lock:
                            self.accepted[rid] = time.monotonic()
                elif roll < 0.5 and self.accepted:
                    with self.lock:
                        rid = rng.choice(list(self.accepted))
                    fmt = rng.choice(("json", "xml"))
                    answer = session.get(f"{base}/requests/{rid}.{fmt}", timeout=30)
                elif roll < 0.75:
                    answer = session.get(f"{base}/requests.json", timeout=30)
                else:
                    answer = session.get(f"{base}/services.xml", timeout=30)
            except requests.RequestException as exc:
                with self.lock:
                    self.errors[type(exc).__name__] += 1
                continue
            with self.lock:
                self.statuses[answer.status_code] += 1


def flap(backend: TimedBackend, until: float, log: list[str]) -> None:
    port = backend.port
    started = time.monotonic()
    for step in range(10_000):
        if time.monotonic() >= until:
            break
        mode = FLAPS[step % len(FLAPS)]
        if mode == "down":
            backend.stop()
        else:
            if backend._server is None:
                backend.start(port)
            backend.mode = mode
        log.append(f"{time.monotonic() - started:6.1f}s back-end {mode}")
        time.sleep(min(PHASE, max(0.0, until - time.monotonic())))
    if backend._server is None:
        backend.start(port)
    backend.mode = "ok"


def memory(pid: int) -> dict[str, float]:
    """RSS in MB of `open311 serve` and every process below it."""
    out = {f"serve {pid}": rss_mb(pid)}
    for child in children(pid):
        out[f"child {child}"] = rss_mb(child)
        for grandchild in children(child):
            out[f"grandchild {grandchild}"] = rss_mb(grandchild)
    return out


def main() -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the back-end's request lines
    folder = Path(tempfile.mkdtemp(prefix="open311-soak-"))
    backend = TimedBackend().start()
    env = gateway_env(f"sqlite:///{folder}/soak.db", backend.url)
    made = subprocess.run(
        [*open311_command(), "keys", "create", "soak"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    key = made.stdout.strip()
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    log_path = folder / "serve.log"
    with log_path.open("wb") as out:
        server = subprocess.Popen(
            [*open311_command(), "serve", "--port", str(port), "--workers", "2", "--with-worker"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{root}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print(log_path.read_text()[-2000:], file=sys.stderr)
                return 1
            time.sleep(0.2)
        print(f"soak: {SECONDS:.0f}s, {CLIENTS} clients, back-end {'/'.join(FLAPS)} "
              f"every {PHASE:.0f}s (slow = {SLOW:.0f}s); log {log_path}", flush=True)  # fmt: skip
        backend.slow_seconds = SLOW
        load = Load(root, key)
        began = time.monotonic()
        until = began + SECONDS
        flaps: list[str] = []
        threads = [threading.Thread(target=load.client, args=(until, n)) for n in range(CLIENTS)]
        threads.append(threading.Thread(target=flap, args=(backend, until, flaps)))
        for thread in threads:
            thread.start()
        time.sleep(min(15.0, SECONDS / 4))
        warm = memory(server.pid)
        for thread in threads:
            thread.join()
        load_end = time.monotonic()
        settle_until = load_end + SETTLE
        expected = {f"{rid}:works" for rid in load.accepted}
        while time.monotonic() < settle_until:
            with backend.lock:
                missing = expected - set(backend.first_seen)
            if not missing:
                break
            time.sleep(0.5)
        settled = time.monotonic() - load_end
        end = memory(server.pid)
    finally:
        stop_group(server)
        backend.stop()
    with backend.lock:
        arrived = {k: t for k, t in backend.first_seen.items() if k in expected}
        counts = {k: n for k, n in backend.accepted.items() if k in expected}
    delays = [arrived[f"{rid}:works"] - at for rid, at in load.accepted.items()
              if f"{rid}:works" in arrived]  # fmt: skip
    served = sum(load.statuses.values())
    five = sum(n for status, n in load.statuses.items() if status >= 500)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    print("\n".join(flaps))
    print(f"requests served     {served}  ({served / SECONDS:.0f}/s)  by status "
          f"{dict(sorted(load.statuses.items()))}  client errors {dict(load.errors)}")  # fmt: skip
    print(f"5xx                 {five}")
    print(f"reports accepted    {len(load.accepted)}")
    print(f"reports delivered   {len(arrived)}  (all in {settled:.0f}s after the load ended)")
    print(f"duplicates          {duplicates}  (same idempotency key accepted again)")
    print(f"longest delay       {max(delays, default=0):.1f}s  (accepted -> at the back-end)")
    print("memory (RSS MB)     after warm-up -> end")
    for name, mb in end.items():
        before = warm.get(name)
        change = f"{(mb - before) / before * 100:+.0f}%" if before else "(new)"
        print(f"  {name:<20} {before if before is not None else '-':>6} -> {mb:6.1f}  {change}")
    ok = five == 0 and len(arrived) == len(load.accepted)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
