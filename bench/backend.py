"""A work-order back-end on loopback for the outbox benchmark. It answers every POST
with a new id, at once or after a set delay, and counts reports per Idempotency-Key so
the run can show that each report arrived exactly once. Standard library only, HTTP/1.1
keep-alive."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, as a real back-end behind a load balancer would offer; the adapter's
    # requests session reuses the connection.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for the
    # client's delayed ACK (~40 ms a delivery), which would measure TCP, not the outbox.
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's naming)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        key = self.headers.get("Idempotency-Key")
        if self.server.delay:
            time.sleep(self.server.delay)  # a back-end that takes its time, as real ones do
        with self.server.lock:
            self.server.received[key] += 1
            order = next(self.server.ids)
        self._answer(201, {"id": f"WO-{order}", "status": "new"})

    def do_GET(self) -> None:  # noqa: N802
        self._answer(200, {"items": []})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # thousands of lines of noise otherwise


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.received: Counter[str | None] = Counter()
        self.ids = itertools.count(1)
        self.delay = 0.0


class FastBackend:
    def __init__(self, delay: float = 0.0) -> None:
        self._server = _Server()
        self._server.delay = delay
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FastBackend:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def reset(self) -> None:
        with self._server.lock:
            self._server.received.clear()

    def counts(self) -> tuple[int, int]:
        """(distinct reports received, POSTs beyond the first per report)."""
        with self._server.lock:
            distinct = len(self._server.received)
            total = sum(self._server.received.values())
        return distinct, total - distinct
