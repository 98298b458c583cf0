"""The simulated work-order system, driven over real HTTP on loopback."""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from open311.demo import simulator as simulator_module
from open311.demo.simulator import BANNER, SimulatorHandle, start_simulator

TOKEN = "test-token-123"
TIMEOUT = 5


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    handle = start_simulator(token=TOKEN)
    try:
        yield handle
    finally:
        handle.stop()


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _create(
    sim: SimulatorHandle, body: dict[str, Any] | None = None, **headers: str
) -> requests.Response:
    payload = body if body is not None else {"external_id": "r-1", "service_code": "pothole"}
    return requests.post(
        f"{sim.url}/api/work-orders",
        json=payload,
        headers={**_auth(), **headers},
        timeout=TIMEOUT,
    )


def _feed(sim: SimulatorHandle, since: str | None = None) -> requests.Response:
    params = {"updated_since": since} if since is not None else None
    return requests.get(
        f"{sim.url}/api/work-orders", params=params, headers=_auth(), timeout=TIMEOUT
    )


def _set_status(sim: SimulatorHandle, order_id: str, status: str, notes: str = "") -> Any:
    return requests.post(
        f"{sim.url}/api/work-orders/{order_id}/status",
        json={"status": status, "notes": notes},
        headers=_auth(),
        timeout=TIMEOUT,
    )


def test_handle_reports_a_loopback_url_and_a_real_port(sim: SimulatorHandle) -> None:
    assert sim.port > 0
    assert sim.url == f"http://127.0.0.1:{sim.port}"
    assert sim.token == TOKEN


def test_create_returns_201_with_ids_counting_from_wo_1001(sim: SimulatorHandle) -> None:
    first = _create(sim, {"external_id": "r-1", "service_code": "pothole", "lat": 41.3})
    second = _create(sim, {"external_id": "r-2", "service_code": "streetlight"})

    assert first.status_code == 201
    order = first.json()["work_order"]
    assert order["id"] == "WO-1001"
    assert order["status"] == "new"
    assert order["external_id"] == "r-1"
    assert order["service_code"] == "pothole"
    assert order["details"]["lat"] == 41.3
    assert order["updated_at"].endswith("Z")
    assert second.status_code == 201
    assert second.json()["work_order"]["id"] == "WO-1002"


def test_same_idempotency_key_returns_the_same_order(sim: SimulatorHandle) -> None:
    first = _create(sim, **{"Idempotency-Key": "key-a"})
    repeat = _create(sim, **{"Idempotency-Key": "key-a"})
    other = _create(sim, **{"Idempotency-Key": "key-b"})

    assert first.status_code == 201
    assert repeat.status_code == 200
    assert repeat.json()["work_order"]["id"] == first.json()["work_order"]["id"] == "WO-1001"
    assert other.status_code == 201
    assert other.json()["work_order"]["id"] == "WO-1002"
    assert len(_feed(sim).json()["items"]) == 2


@pytest.mark.parametrize(
    "headers",
    [{}, _auth("wrong-token"), {"Authorization": TOKEN}, {"Authorization": "Basic dGVzdA=="}],
    ids=["none", "wrong-token", "no-scheme", "basic"],
)
def test_api_rejects_missing_or_wrong_token(sim: SimulatorHandle, headers: dict) -> None:
    body = {"external_id": "r-1", "service_code": "pothole"}
    created = requests.post(
        f"{sim.url}/api/work-orders", json=body, headers=headers, timeout=TIMEOUT
    )
    listed = requests.get(f"{sim.url}/api/work-orders", headers=headers, timeout=TIMEOUT)

    assert created.status_code == 401
    assert "error" in created.json()
    assert created.headers["WWW-Authenticate"].startswith("Bearer")
    assert listed.status_code == 401
    # Nothing was created behind the refusal.
    assert _feed(sim).json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"service_code": "pothole"},
        {"external_id": "r-1"},
        {"external_id": "", "service_code": "pothole"},
        {"external_id": "r-1", "service_code": None},
        {"external_id": ["r-1"], "service_code": "pothole"},
        ["not", "an", "object"],
    ],
)
def test_create_rejects_a_bad_body_with_a_json_400(sim: SimulatorHandle, body: Any) -> None:
    response = _create(sim, body)

    assert response.status_code == 400
    assert "error" in response.json()


def test_create_rejects_a_body_that_is_not_json(sim: SimulatorHandle) -> None:
    response = requests.post(
        f"{sim.url}/api/work-orders",
        data="external_id=r-1",
        headers={**_auth(), "Content-Type": "text/plain"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 400
    assert "error" in response.json()
    assert _feed(sim).json()["items"] == []


def test_feed_returns_orders_updated_at_or_after_the_time(sim: SimulatorHandle) -> None:
    first = _create(sim, {"external_id": "r-1", "service_code": "pothole"}).json()["work_order"]
    # Timestamps carry milliseconds; a few ms apart keeps the two orders distinguishable.
    time.sleep(0.01)
    second = _create(sim, {"external_id": "r-2", "service_code": "pothole"}).json()["work_order"]

    everything = _feed(sim).json()["items"]
    since_first = _feed(sim, first["updated_at"]).json()["items"]
    since_second = _feed(sim, second["updated_at"]).json()["items"]
    future = _feed(sim, "2999-01-01T00:00:00Z").json()["items"]

    assert [i["id"] for i in everything] == ["WO-1001", "WO-1002"]
    assert [i["id"] for i in since_first] == ["WO-1001", "WO-1002"]
    assert [i["id"] for i in since_second] == ["WO-1002"]  # "at or after" includes it
    assert future == []
    item = since_second[0]
    assert set(item) >= {"id", "external_id", "status", "notes", "updated_at"}
    assert item["external_id"] == "r-2"
    assert item["updated_at"].endswith("Z")


@pytest.mark.parametrize("since", ["2000-01-01T00:00:00+00:00", "2000-01-01T00:00:00"])
def test_feed_accepts_offsets_and_naive_times(sim: SimulatorHandle, since: str) -> None:
    _create(sim)

    response = _feed(sim, since)

    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


def test_feed_rejects_a_malformed_time(sim: SimulatorHandle) -> None:
    response = _feed(sim, "yesterday")

    assert response.status_code == 400
    assert "error" in response.json()


def test_manual_status_change_is_seen_in_the_order_and_the_feed(sim: SimulatorHandle) -> None:
    created = _create(sim).json()["work_order"]
    time.sleep(0.01)

    started = _set_status(sim, "WO-1001", "in_progress", "Crew 2 on the way")
    assert started.status_code == 200
    in_progress = started.json()["work_order"]
    assert in_progress["status"] == "in_progress"
    assert in_progress["notes"] == "Crew 2 on the way"
    assert in_progress["updated_at"] > created["updated_at"]

    # Only orders changed since the creation remain in a feed asked from just after it.
    feed = _feed(sim, in_progress["updated_at"]).json()["items"]
    assert [(i["id"], i["status"]) for i in feed] == [("WO-1001", "in_progress")]

    done = _set_status(sim, "WO-1001", "completed", "Filled")
    assert done.status_code == 200
    fetched = requests.get(f"{sim.url}/api/work-orders/WO-1001", headers=_auth(), timeout=5)
    order = fetched.json()["work_order"]
    assert order["status"] == "completed"
    assert order["notes"] == "Filled"
    assert [h["status"] for h in order["history"]] == ["new", "in_progress", "completed"]


def test_status_change_is_validated(sim: SimulatorHandle) -> None:
    _create(sim)

    assert _set_status(sim, "WO-1001", "exploded").status_code == 400
    assert _set_status(sim, "WO-1001", "new").status_code == 400
    assert _set_status(sim, "WO-9999", "completed").status_code == 404
    assert _set_status(sim, "WO-1001", "cancelled").status_code == 200
    # A closed order stays closed: a crew cannot silently reopen it.
    conflict = _set_status(sim, "WO-1001", "in_progress")
    assert conflict.status_code == 409
    assert "error" in conflict.json()


def test_unknown_order_is_a_json_404(sim: SimulatorHandle) -> None:
    response = requests.get(f"{sim.url}/api/work-orders/WO-4242", headers=_auth(), timeout=5)

    assert response.status_code == 404
    assert "error" in response.json()


def test_automatic_crew_moves_an_order_through_to_completed() -> None:
    handle = start_simulator(token=TOKEN, auto_close_after=0.4)
    try:
        body = {"external_id": "r-9", "service_code": "pothole"}
        created = _create(handle, body).json()["work_order"]
        assert created["status"] == "new"

        seen: list[str] = []
        deadline = time.monotonic() + 5
        order: dict[str, Any] = created
        while time.monotonic() < deadline:
            order = requests.get(
                f"{handle.url}/api/work-orders/{created['id']}", headers=_auth(), timeout=5
            ).json()["work_order"]
            if not seen or seen[-1] != order["status"]:
                seen.append(order["status"])
            if order["status"] == "completed":
                break
            time.sleep(0.02)

        assert order["status"] == "completed", seen
        assert order["notes"].startswith("Crew ")
        assert order["notes"].endswith("filled the pothole")
        # The history shows the in_progress step even if a poll happened to miss it.
        assert [h["status"] for h in order["history"]] == ["new", "in_progress", "completed"]
        feed = _feed(handle, created["updated_at"]).json()["items"]
        assert [(i["id"], i["status"]) for i in feed] == [(created["id"], "completed")]
    finally:
        handle.stop()


def test_without_auto_close_orders_stay_new(sim: SimulatorHandle) -> None:
    _create(sim)
    time.sleep(0.1)

    assert _feed(sim).json()["items"][0]["status"] == "new"


def test_html_page_shows_the_banner_and_the_orders(sim: SimulatorHandle) -> None:
    _create(sim, {"external_id": "<script>alert(1)</script>", "service_code": "pothole"})

    page = requests.get(f"{sim.url}/", timeout=TIMEOUT)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert BANNER in page.text
    assert "Simulated work-order system" in page.text
    assert "WO-1001" in page.text
    # Report fields come from the public; the page must escape them.
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_a_token_is_generated_when_none_is_given() -> None:
    handle = start_simulator()
    try:
        assert len(handle.token) >= 16
        ok = requests.get(f"{handle.url}/api/work-orders", headers=_auth(handle.token), timeout=5)
        assert ok.status_code == 200
    finally:
        handle.stop()


def test_stop_closes_the_port() -> None:
    handle = start_simulator(token=TOKEN)
    handle.stop()

    with pytest.raises(requests.ConnectionError):
        requests.get(f"{handle.url}/", timeout=2)


def test_simulator_does_not_import_the_gateway() -> None:
    # It stands in for a separate city system; reaching into open311 would blur that line.
    source = Path(simulator_module.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            assert not any(alias.name.split(".")[0] == "open311" for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            assert (node.module or "").split(".")[0] != "open311"
