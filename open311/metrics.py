"""Prometheus metrics (prometheus_client).

Counters and histograms are counted where things happen: requests by route template,
method and status (the web processes); deliveries by destination and outcome, pauses and
status pulls (the delivery workers). The outbox gauges (depth, due, oldest due age,
dead, paused, sync lag) are read from the database at scrape time, so every web process
reports the same truth however many workers there are and wherever they run.

Under gunicorn, `open311 serve` points PROMETHEUS_MULTIPROC_DIR at a folder it empties at
start (`open311/server.py`); each process (gunicorn's workers, the embedded delivery
worker) writes its own file there and a scrape adds them up. The variable must be set
before prometheus_client is first imported, so the serving process itself never imports
this module; the processes it starts do.

Labels never carry a service code, a report id or anything a caller typed: routes are
the URL templates (`/open311/v2/requests/<rid>.<fmt>`), methods outside the usual few
are counted as `other`, and destinations are the configured agency ids.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from .db import database_unavailable, utcnow

if TYPE_CHECKING:
    from flask import Flask, Response

    from .gateway import Gateway

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

disable_created_metrics()  # *_created series only double what scrapers store anyway

REQUESTS = Counter("open311_http_requests", "HTTP requests answered", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "open311_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DELIVERIES = Counter(
    "open311_deliveries",
    "Delivery attempts by outcome (done, retry, dead, lost)",
    ["destination", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "open311_delivery_duration_seconds",
    "Time of one delivery attempt, back-end call included",
    ["destination"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
PAUSES = Counter("open311_destination_pauses", "Times a destination was paused", ["destination"])
SYNCS = Counter(
    "open311_sync_runs", "Status pulls by outcome (ok, failed)", ["destination", "outcome"]
)

_CONVERTER = re.compile(r"<(?:[^>:]*:)?([^>]+)>")  # <any(json, xml):fmt> -> <fmt>
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_delivery(destination: str, outcome: str, seconds: float) -> None:
    DELIVERIES.labels(destination, outcome).inc()
    DELIVERY_SECONDS.labels(destination).observe(seconds)


def observe_pause(destination: str) -> None:
    PAUSES.labels(destination).inc()


def observe_sync(destination: str, ok: bool) -> None:
    SYNCS.labels(destination, "ok" if ok else "failed").inc()


def install_request_metrics(app: Flask) -> None:
    """Count every answer (errors included) by route template, method and status."""
    import time

    from flask import g, request

    @app.before_request
    def _started() -> None:
        g.open311_started = time.perf_counter()

    @app.after_request
    def _counted(response: Response) -> Response:
        rule = request.url_rule
        route = "unmatched" if rule is None else _route(rule.rule)
        method = request.method if request.method in _METHODS else "other"
        _counter(route, method, response.status_code).inc()
        started = g.get("open311_started")
        if started is not None:
            _timer(route).observe(time.perf_counter() - started)
        return response


# The route label and the labelled children, made once per rule (and method and status): a
# regex substitution and prometheus_client's labels() lookup on every answer were a
# measurable part of a small GET's cost. No key is what a caller typed: a rule's template
# (or "unmatched"), a method folded into _METHODS or "other", a status the app answered
# with. Routes are bounded by the URL map, so those two caches need no bound.
@functools.cache
def _route(rule: str) -> str:
    return _CONVERTER.sub(r"<\1>", rule)


@functools.cache
def _timer(route: str) -> Any:
    return REQUEST_SECONDS.labels(route)


# This key's statuses are not in the URL map: they are whatever a view, an error handler or
# a hook set, so nothing here caps them, and the cache is bounded rather than trusting every
# status to come from a short list. 2,048 holds each of the URL map's rule and method pairs
# (about 120) with a dozen statuses apiece; an evicted child only costs a labels() lookup
# again. (The bound is this cache's: prometheus_client keeps every child it made.)
@functools.lru_cache(maxsize=2048)
def _counter(route: str, method: str, status: int) -> Any:
    return REQUESTS.labels(route, method, str(status))


class OutboxCollector(Collector):
    """The outbox gauges, read from the database when scraped."""

    def __init__(self, site: Gateway) -> None:
        self.site = site

    def collect(self) -> Iterator[Metric]:
        from .outbox_status import destination_status  # it imports the outbox, which counts here

        up = GaugeMetricFamily("open311_database_up", "1 when the database answered the scrape")
        now = utcnow()
        try:
            with self.site.db.read() as session:
                states = destination_status(session, self.site.catalog.agencies, now)
        except SQLAlchemyError as exc:
            if not database_unavailable(exc):
                raise
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        families = {
            "depth": GaugeMetricFamily(
                "open311_outbox_depth", "Deliveries not done yet", labels=["destination"]
            ),
            "due": GaugeMetricFamily(
                "open311_outbox_due", "Deliveries a worker may claim now", labels=["destination"]
            ),
            "inflight": GaugeMetricFamily(
                "open311_outbox_inflight", "Deliveries being sent", labels=["destination"]
            ),
            "dead": GaugeMetricFamily(
                "open311_outbox_dead", "Deliveries given up on", labels=["destination"]
            ),
            "age": GaugeMetricFamily(
                "open311_outbox_oldest_due_age_seconds",
                "Age of the oldest due delivery (0 when none is due)",
                labels=["destination"],
            ),
            "paused": GaugeMetricFamily(
                "open311_destination_paused",
                "1 while the destination is paused",
                labels=["destination"],
            ),
            "failures": GaugeMetricFamily(
                "open311_destination_consecutive_failures",
                "Failed deliveries in a row",
                labels=["destination"],
            ),
            "lag": GaugeMetricFamily(
                "open311_sync_lag_seconds",
                "Seconds since the status pull's high-water mark (destinations that pulled)",
                labels=["destination"],
            ),
        }
        for state in states:
            label = [state.destination]
            families["depth"].add_metric(label, state.depth)
            families["due"].add_metric(label, state.due)
            families["inflight"].add_metric(label, state.inflight)
            families["dead"].add_metric(label, state.dead)
            families["age"].add_metric(label, state.oldest_due_age or 0)
            families["paused"].add_metric(label, 1 if state.paused_until else 0)
            families["failures"].add_metric(label, state.consecutive_failures)
            if state.synced_until is not None:
                families["lag"].add_metric(label, (now - state.synced_until).total_seconds())
        yield from families.values()


def process_registry() -> Any:
    """What this process (and, under gunicorn, its siblings) counted."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition(site: Gateway | None) -> tuple[bytes, str]:
    """The Prometheus text: the counted metrics, plus the outbox gauges when `site` is given."""
    body = generate_latest(process_registry())
    if site is not None:
        outbox = CollectorRegistry()
        outbox.register(OutboxCollector(site))
        body += generate_latest(outbox)
    return body, CONTENT_TYPE_LATEST
