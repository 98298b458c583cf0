"""A controllable work-order back-end on loopback: it can be up, down, slow, broken or
rude, and it records every report it receives, so tests can count deliveries."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response


@dataclass
class WorkOrder:
    id: str
    body: dict[str, Any]
    status: str = "new"
    notes: str | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Backend:
    """Modes: ok, error500, slow, malformed, noid, reject400, ratelimited."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.slow_seconds = 2.0
        self.lock = threading.Lock()
        self.orders: dict[str, WorkOrder] = {}
        self.by_key: dict[str, str] = {}
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        # Every accepted POST per idempotency key, repeats included: a report delivered
        # twice shows as 2 here even though the back-end itself deduplicates it.
        self.accepted: Counter[str | None] = Counter()
        # When each accepted POST arrived (time.monotonic), for gaps finer than the
        # gateway's timestamps (whole seconds, as Open311 shows them).
        self.arrivals: list[float] = []
        self.headers: list[dict[str, str]] = []
        self._ids = itertools.count(1)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------

    def start(self, port: int = 0) -> Backend:
        self._server = make_server("127.0.0.1", port, self, threaded=True)
        self.port = self._server.server_port
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: the port is closed and connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what tests read --------------------------------------------------------------

    @property
    def by_key_counts(self) -> dict[str | None, int]:
        """How many times each report was accepted (exactly once means 1 each)."""
        with self.lock:
            return dict(self.accepted)

    def close_order(self, order_id: str, notes: str) -> None:
        with self.lock:
            order = self.orders[order_id]
            order.status, order.notes = "done", notes
            order.updated_at = datetime.now(UTC)

    # --- the WSGI app -----------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if request.method == "GET":
            since = request.args.get("since")
            cutoff = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
            with self.lock:
                items = [
                    {
                        "id": o.id,
                        "status": o.status,
                        "notes": o.notes,
                        "updated_at": o.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    }
                    for o in self.orders.values()
                    if cutoff is None or o.updated_at >= cutoff
                ]
            return Response(json.dumps({"items": items}), content_type="application/json")
        mode = self.mode
        if mode == "slow":
            time.sleep(self.slow_seconds)
        if mode == "error500":
            return Response("upstream database unavailable", status=500)
        if mode == "ratelimited":
            return Response("slow down", status=429, headers={"Retry-After": "120"})
        if mode == "reject400":
            return Response(json.dumps({"error": "unknown category"}), status=400)
        if mode == "malformed":
            return Response("<html>Gateway Timeout</html>", status=200, content_type="text/html")
        body = request.get_json(force=True, silent=True) or {}
        key = request.headers.get("Idempotency-Key")
        with self.lock:
            self.headers.append(dict(request.headers))
            self.accepted[key] += 1
            self.arrivals.append(time.monotonic())
            if key and key in self.by_key:
                order = self.orders[self.by_key[key]]
            else:
                order = WorkOrder(id=f"WO-{next(self._ids)}", body=body)
                self.orders[order.id] = order
                self.received.append((key, body))
                if key:
                    self.by_key[key] = order.id
        if mode == "noid":
            return Response(json.dumps({"ok": True}), status=201, content_type="application/json")
        return Response(
            json.dumps({"id": order.id, "status": order.status}),
            status=201,
            content_type="application/json",
        )
