"""/healthz, /readyz, /metrics and `open311 outbox status` against a real database and a
recording loopback back-end: what they show follows the outbox, operators see the
destinations, nobody else does, and none of it is rate-limited or cached."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from open311 import metrics
from open311.cli import main
from open311.outbox import Outbox
from tests.conftest import make_key
from tests.helpers import errors
from tests.support.backend import Backend
from tests.support.plugin import DELIVERY_CONFIG

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def _report(client: Any, key: str, service_code: str = "POTHOLE") -> None:
    data = {"service_code": service_code, "address_string": "1 Main St", "api_key": key}
    assert client.post("/open311/v2/requests.json", data=data).status_code == 200


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def _paused_works(client: Any, key: str, backend: Backend, outbox: Outbox) -> None:
    """Three failures in a row (FAST.pause_after) pause `works`; one report stays due."""
    backend.mode = "error500"
    for _ in range(3):
        _report(client, key)
    _report(client, key, "SPILL")  # works and a copy to health
    outbox.run_once()


def test_healthz_answers_without_the_database_and_is_neither_limited_nor_cached(
    client: Any,
) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.get_json() == {"status": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"
    assert "X-RateLimit-Limit" not in answer.headers
    assert "X-RateLimit-Limit" in client.get("/open311/v2/services.json").headers
    for path in ("/readyz", "/metrics"):
        got = client.get(path)
        assert got.headers["Cache-Control"] == "no-store" and "X-RateLimit-Limit" not in got.headers


def test_readyz_shows_operators_each_destination_paused_and_due(
    client: Any, submit_key: str, backend: Backend, outbox: Outbox
) -> None:
    _paused_works(client, submit_key, backend, outbox)
    answer = client.get("/readyz")
    assert answer.status_code == 200  # paused destinations do not make the gateway unready
    body = answer.get_json()
    assert body["status"] == "ready" and body["database"] == "ok"
    by_name = {d["destination"]: d for d in body["destinations"]}
    assert set(by_name) == {"works", "health", "tenants"}
    works, health = by_name["works"], by_name["health"]
    assert works["paused_until"] and works["paused_until"].endswith("Z")
    assert works["consecutive_failures"] >= 3 and "500" in works["last_error"]
    assert works["depth"] == 4 and works["dead"] == 0
    assert health["paused_until"] is None and health["depth"] == 1


def test_readyz_hides_destinations_from_callers_who_are_not_operators(
    app: Any, client: Any
) -> None:
    for environ, headers in ((OUTSIDE, {}), ({}, {"X-Forwarded-For": "198.51.100.7"})):
        body = client.get("/readyz", environ_base=environ, headers=headers).get_json()
        assert body == {"status": "ready", "database": "ok"}
    for who, shown in (("submit", False), ("staff", False), ("admin", True)):
        key = make_key(app, f"ops-{who}", who, "works" if who == "staff" else None)
        answer = client.get("/readyz", environ_base=OUTSIDE, headers={"X-API-Key": key})
        assert ("destinations" in answer.get_json()) is shown, who


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_metrics_refuse_callers_who_are_not_operators(app: Any, client: Any, fmt: str) -> None:
    # /metrics is not an Open311 resource: its error list is JSON whatever the client asks.
    answer = client.get("/metrics", environ_base=OUTSIDE, headers={"Accept": f"text/{fmt}"})
    assert answer.status_code == 403
    assert "operators" in errors(answer, "json")[0]["description"]
    admin = make_key(app, "scraper", "admin")
    bearer = {"Authorization": f"Bearer {admin}"}
    assert client.get("/metrics", environ_base=OUTSIDE, headers=bearer).status_code == 200


def test_metrics_follow_requests_deliveries_pauses_and_the_outbox(
    client: Any, submit_key: str, backend: Backend, outbox: Outbox
) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    _paused_works(client, submit_key, backend, outbox)
    client.get("/open311/v2/requests/NOPE-1.xml")
    text = client.get("/metrics").get_data(as_text=True)

    def grew(name: str, **labels: str) -> float:
        return (value(text, name, **labels) or 0) - (value(before, name, **labels) or 0)

    route = "/open311/v2/requests.<fmt>"
    assert grew("open311_http_requests_total", route=route, method="POST", status="200") == 4
    one = "/open311/v2/requests/<service_request_id>.<fmt>"
    assert grew("open311_http_requests_total", route=one, method="GET", status="404") == 1
    assert grew("open311_deliveries_total", destination="works", outcome="retry") >= 3
    assert grew("open311_destination_pauses_total", destination="works") >= 1
    assert value(text, "open311_database_up") == 1
    assert value(text, "open311_outbox_depth", destination="works") == 4
    assert value(text, "open311_outbox_depth", destination="health") == 1
    assert value(text, "open311_destination_paused", destination="works") == 1
    assert value(text, "open311_destination_paused", destination="health") == 0
    # Labels name routes and agencies, never what a caller sent.
    assert "POTHOLE" not in text and "SPILL" not in text and "NOPE" not in text


def test_the_cache_of_counted_children_stays_bounded() -> None:
    # The status is whatever the answering code set: a run of statuses never seen before
    # must not keep a labelled child each in the cache for ever.
    route, made = "/test-only/bounded", 3000  # more than the cache holds
    try:
        for status in range(made):
            metrics._counter(route, "GET", status)
        assert metrics._counter.cache_info().currsize < made
    finally:
        metrics._counter.cache_clear()
        for status in range(made):
            metrics.REQUESTS.remove(route, "GET", str(status))


def test_outbox_status_prints_the_same_per_destination(
    client: Any, submit_key: str, backend: Backend, outbox: Outbox, db_url: str
) -> None:
    _paused_works(client, submit_key, backend, outbox)
    readyz = {d["destination"]: d for d in client.get("/readyz").get_json()["destinations"]}
    runner = CliRunner()
    args = ["--database-url", db_url, "--config", str(DELIVERY_CONFIG), "outbox", "status"]
    listed = runner.invoke(main, [*args, "--json"])
    assert listed.exit_code == 0, listed.output
    # Due counts and ages move with the clock between the two reads; the rest may not.
    steady = ("depth", "dead", "paused_until", "consecutive_failures", "last_error")

    def fixed(rows: Any) -> dict[str, Any]:
        return {d["destination"]: {k: d[k] for k in steady} for d in rows}

    assert fixed(json.loads(listed.output)) == fixed(readyz.values())
    table = runner.invoke(main, args)
    assert table.exit_code == 0, table.output
    header, *rows = table.output.splitlines()
    assert header.split()[:4] == ["destination", "depth", "due", "oldest"]
    works = next(r for r in rows if r.startswith("works "))
    cells = works.split()
    assert cells[1] == "4" and cells[4] == readyz["works"]["paused_until"]
    assert readyz["works"]["last_error"][:60] in works
