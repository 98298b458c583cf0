"""A SIMULATED city work-order system for the open311 gateway demo.

This is not a real city system and not part of the gateway. It stands in for the kind of
back-end a city's public-works department runs, so the demo can show the gateway handing a
report to an agency over the generic ``http_json`` adapter and later seeing it closed.

It deliberately imports nothing from ``open311``: it is a separate system that merely ships
in the same package, and keeping it independent means the demo exercises the gateway only
through HTTP, the way a real deployment would.

API (all ``/api`` routes need ``Authorization: Bearer <token>``):

- ``POST /api/work-orders``                 create (``external_id`` and ``service_code``
  required; an ``Idempotency-Key`` header makes retries return the same order)
- ``GET  /api/work-orders?updated_since=…`` orders updated at or after an ISO 8601 time
- ``GET  /api/work-orders/<id>``            one order
- ``POST /api/work-orders/<id>/status``     what a crew would do: ``{"status", "notes"}``
- ``GET  /``                                an HTML page listing the orders (no auth)

Run it on its own with ``python -m open311.demo.simulator --port 8311``.
"""

from __future__ import annotations

import argparse
import hmac
import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, render_template_string, request
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from schemas.datetimes import format_w3c, parse_w3c


class _InOrderJSON(DefaultJSONProvider):
    """Keys in the order the work order has them, as a real system's JSON would."""

    sort_keys = False


BANNER = "Simulated work-order system — for the open311 gateway demo"

STATUSES = ("new", "assigned", "in_progress", "completed", "cancelled")
# A crew may move an order to any of these; "new" is only ever the initial state.
SETTABLE_STATUSES = ("assigned", "in_progress", "completed", "cancelled")
CLOSED_STATUSES = frozenset({"completed", "cancelled"})

FIRST_ORDER_NUMBER = 1001

# What the automatic crew says it did, by a keyword in the service code, so the closing
# note a demo user sees reads like something a real crew would write.
_CREW_WORK = (
    ("pothole", "filled the pothole"),
    ("light", "repaired the streetlight"),
    ("graffiti", "removed the graffiti"),
    ("dump", "cleared the illegal dumping"),
    ("trash", "picked up the trash"),
    ("litter", "picked up the litter"),
    ("tree", "cleared the tree"),
    ("sign", "replaced the sign"),
    ("sidewalk", "repaired the sidewalk"),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    # Milliseconds, because with whole seconds two updates in the same second would be
    # indistinguishable to an ``updated_since`` poller.
    return format_w3c(moment, "milliseconds")


def _crew_note(order_number: int, service_code: str, *, done: bool) -> str:
    crew = f"Crew {order_number % 9 + 1}"
    if not done:
        return f"{crew} is on site"
    code = service_code.lower()
    work = next((text for key, text in _CREW_WORK if key in code), "resolved the request")
    return f"{crew} {work}"


@dataclass
class WorkOrder:
    number: int
    external_id: str
    service_code: str
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    # Monotonic creation time: the automatic crew must not be fooled by wall-clock jumps.
    created_monotonic: float
    status: str = "new"
    notes: str = ""
    history: list[dict[str, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"WO-{self.number}"

    def set_status(self, status: str, notes: str) -> None:
        self.status = status
        self.notes = notes
        self.updated_at = _now()
        self.history.append({"at": _iso(self.updated_at), "status": status, "notes": notes})

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "external_id": self.external_id,
            "status": self.status,
            "notes": self.notes,
            "updated_at": _iso(self.updated_at),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "service_code": self.service_code,
            "created_at": _iso(self.created_at),
            "details": self.details,
            "history": list(self.history),
        }


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>Simulated work orders</title>
<style>
 body { font-family: sans-serif; margin: 0; }
 .banner { background: #b45309; color: #fff; padding: .75em 1em; font-weight: bold; }
 main { padding: 1em; }
 table { border-collapse: collapse; }
 th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; }
</style>
</head>
<body>
<div class="banner" role="banner">{{ banner }}</div>
<main>
<p>Not a real city system. Work orders live in memory and vanish when it stops.</p>
{% if orders %}
<table>
<thead><tr><th>Work order</th><th>Report</th><th>Service</th><th>Status</th>
<th>Notes</th><th>Updated</th></tr></thead>
<tbody>
{% for o in orders %}
<tr><td>{{ o.id }}</td><td>{{ o.external_id }}</td><td>{{ o.service_code }}</td>
<td>{{ o.status }}</td><td>{{ o.notes }}</td><td>{{ o.updated_at }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>No work orders yet.</p>
{% endif %}
</main>
</body>
</html>
"""


class WorkOrderSimulator:
    """The simulated system: an in-memory store, its Flask app and an optional crew."""

    def __init__(self, token: str, auto_close_after: float | None = None) -> None:
        if not token:
            raise ValueError("token must not be empty")
        if auto_close_after is not None and auto_close_after <= 0:
            raise ValueError("auto_close_after must be positive")
        self.token = token
        self.auto_close_after = auto_close_after
        # One lock for orders, idempotency keys and the counter: a simulator sees little
        # traffic, and a single lock makes "check the key, then create" atomic.
        self._lock = threading.Lock()
        self._orders: dict[str, WorkOrder] = {}
        self._idempotency: dict[str, str] = {}
        self._numbers = itertools.count(FIRST_ORDER_NUMBER)
        self._stop = threading.Event()
        self._crew: threading.Thread | None = None
        self.app = self._build_app()

    # -- store ---------------------------------------------------------------------------

    def orders(self) -> list[WorkOrder]:
        with self._lock:
            return sorted(self._orders.values(), key=lambda o: o.number)

    def _create(self, payload: dict[str, Any], key: str | None) -> tuple[dict[str, Any], bool]:
        with self._lock:
            if key is not None and key in self._idempotency:
                return self._orders[self._idempotency[key]].to_dict(), False
            now = _now()
            order = WorkOrder(
                number=next(self._numbers),
                external_id=str(payload["external_id"]),
                service_code=str(payload["service_code"]),
                details=payload,
                created_at=now,
                updated_at=now,
                created_monotonic=time.monotonic(),
            )
            order.history.append({"at": _iso(now), "status": "new", "notes": ""})
            self._orders[order.id] = order
            if key is not None:
                self._idempotency[key] = order.id
            return order.to_dict(), True

    # -- automatic crew ------------------------------------------------------------------

    def start_crew(self) -> None:
        if self.auto_close_after is None or self._crew is not None:
            return
        self._stop.clear()
        self._crew = threading.Thread(
            target=self._crew_loop,
            args=(self.auto_close_after,),
            name="simulated-crew",
            daemon=True,
        )
        self._crew.start()

    def stop_crew(self) -> None:
        self._stop.set()
        if self._crew is not None:
            self._crew.join(timeout=5)
            self._crew = None

    def _crew_loop(self, close_after: float) -> None:
        # Tick often relative to the interval so short demo/test intervals stay prompt,
        # but never busy-loop nor sleep so long that a stop request lingers.
        tick = min(0.5, max(0.02, close_after / 20))
        while not self._stop.wait(tick):
            self._crew_step(time.monotonic(), close_after)

    def _crew_step(self, now: float, close_after: float) -> None:
        with self._lock:
            for order in self._orders.values():
                if order.status in CLOSED_STATUSES:
                    continue
                age = now - order.created_monotonic
                if age >= close_after:
                    note = _crew_note(order.number, order.service_code, done=True)
                    order.set_status("completed", note)
                elif age >= close_after / 2 and order.status in ("new", "assigned"):
                    note = _crew_note(order.number, order.service_code, done=False)
                    order.set_status("in_progress", note)

    # -- HTTP ----------------------------------------------------------------------------

    def _authorized(self) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            return False
        # Constant-time comparison: cheap, and the simulator should model good practice.
        return hmac.compare_digest(presented.strip().encode(), self.token.encode())

    def _build_app(self) -> Flask:
        app = Flask(__name__)
        app.json = _InOrderJSON(app)

        @app.before_request
        def require_token() -> ResponseReturnValue | None:
            if request.path.startswith("/api/") and not self._authorized():
                response = _error(401, "missing or invalid bearer token")
                response.headers["WWW-Authenticate"] = 'Bearer realm="simulator"'
                return response
            return None

        @app.errorhandler(HTTPException)
        def json_errors(exc: HTTPException) -> ResponseReturnValue:
            # Clients of the API expect JSON even for routing errors (404, 405).
            if request.path.startswith("/api/"):
                return _error(exc.code or 500, exc.description or exc.name)
            return exc

        @app.post("/api/work-orders")
        def create_order() -> ResponseReturnValue:
            payload = request.get_json(silent=True)
            if not isinstance(payload, dict):
                return _error(400, "body must be a JSON object")
            missing = [
                name
                for name in ("external_id", "service_code")
                if payload.get(name) in (None, "") or isinstance(payload.get(name), dict | list)
            ]
            if missing:
                return _error(400, f"missing or invalid field(s): {', '.join(missing)}")
            key = request.headers.get("Idempotency-Key") or None
            order, created = self._create(payload, key)
            return jsonify({"work_order": order}), 201 if created else 200

        @app.get("/api/work-orders")
        def list_orders() -> ResponseReturnValue:
            since_text = request.args.get("updated_since")
            since: datetime | None = None
            if since_text:
                try:
                    since = parse_w3c(since_text)
                except ValueError:
                    return _error(400, "updated_since must be an ISO 8601 date-time")
            with self._lock:
                matching = [
                    o for o in self._orders.values() if since is None or o.updated_at >= since
                ]
                matching.sort(key=lambda o: (o.updated_at, o.number))
                items = [o.summary() for o in matching]
            return jsonify({"items": items})

        @app.get("/api/work-orders/<order_id>")
        def get_order(order_id: str) -> ResponseReturnValue:
            with self._lock:
                order = self._orders.get(order_id)
                if order is None:
                    return _error(404, f"no work order {order_id}")
                return jsonify({"work_order": order.to_dict()})

        @app.post("/api/work-orders/<order_id>/status")
        def change_status(order_id: str) -> ResponseReturnValue:
            payload = request.get_json(silent=True)
            if not isinstance(payload, dict):
                return _error(400, "body must be a JSON object")
            status = payload.get("status")
            if status not in SETTABLE_STATUSES:
                return _error(400, f"status must be one of: {', '.join(SETTABLE_STATUSES)}")
            notes = payload.get("notes", "")
            if not isinstance(notes, str):
                return _error(400, "notes must be a string")
            with self._lock:
                order = self._orders.get(order_id)
                if order is None:
                    return _error(404, f"no work order {order_id}")
                if order.status in CLOSED_STATUSES:
                    return _error(409, f"work order {order_id} is already {order.status}")
                order.set_status(status, notes)
                return jsonify({"work_order": order.to_dict()})

        @app.get("/")
        def index() -> ResponseReturnValue:
            orders = [o.to_dict() for o in self.orders()]
            return render_template_string(_PAGE, banner=BANNER, orders=orders)

        return app


class _QuietRequestHandler(WSGIRequestHandler):
    # The demo prints its own progress; a line per poll from the simulator would drown it.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class SimulatorHandle:
    """A running simulator: where to reach it and how to stop it."""

    url: str
    port: int
    token: str
    simulator: WorkOrderSimulator
    _server: BaseWSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        self.simulator.stop_crew()
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


def _url_host(host: str) -> str:
    # A wildcard bind address is not something a client can connect to.
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    auto_close_after: float | None = None,
    *,
    quiet: bool = True,
) -> SimulatorHandle:
    """Serve a fresh simulator in a daemon thread; port 0 picks a free port.

    Without a token a random one is generated; read it back from ``handle.token``.
    """
    simulator = WorkOrderSimulator(token or secrets.token_urlsafe(24), auto_close_after)
    server = make_server(
        host,
        port,
        simulator.app,
        threaded=True,
        request_handler=_QuietRequestHandler if quiet else None,
    )
    # A short poll interval makes stop() prompt: shutdown() waits for the loop to notice.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="work-order-simulator",
        daemon=True,
    )
    thread.start()
    simulator.start_crew()
    actual_port = server.server_port
    return SimulatorHandle(
        url=f"http://{_url_host(host)}:{actual_port}",
        port=actual_port,
        token=simulator.token,
        simulator=simulator,
        _server=server,
        _thread=thread,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=BANNER)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8312)
    parser.add_argument("--token", default=None, help="bearer token (random if omitted)")
    parser.add_argument(
        "--auto-close-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="let a simulated crew start and complete each order after this long",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no line per request (open311 demo uses this)"
    )
    args = parser.parse_args(argv)
    handle = start_simulator(
        args.host, args.port, args.token, args.auto_close_after, quiet=args.quiet
    )
    print(BANNER)
    print(f"Listening on {handle.url}  (bearer token: {handle.token})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        handle.stop()


if __name__ == "__main__":
    main()
