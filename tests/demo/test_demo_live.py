"""`open311 demo` as a newcomer runs it: a report leaves the gateway, gets a work-order
number from the simulated city system, and comes back closed; housing-authority reports
land in the gateway's own inbox, private ones never show publicly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from open311 import DEMO_CONFIG
from tests.support.servers import free_port

pytestmark = pytest.mark.server


def wait_for(predicate: Any, timeout: float = 30.0, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("demo")
    port, orders_port, mail_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN311_")}
    env["OPEN311_DATABASE_URL"] = f"sqlite:///{folder}/demo.db"
    command = [
        sys.executable, "-m", "open311.cli", "demo",
        "--port", str(port), "--workorders-port", str(orders_port), "--auto-close-after", "2",
        "--mail-port", str(mail_port), "--mail-folder", str(folder / "mail"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(folder / "demo.log").open("w"),
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        # Up to the banner's last line; the simulator's own lines (a child process on the
        # same stdout) may come before or after it.
        lines: list[str] = []
        while len(lines) < 40 and not (lines and lines[-1].startswith("  configuration:")):
            lines.append(process.stdout.readline())
        banner = "".join(lines)
        key = re.search(r"submit key:\s+(\S+)", banner)
        assert key, banner
        base = f"http://127.0.0.1:{port}/open311/v2"
        wait_for(lambda: _answers(f"{base}/discovery.json"))
        yield {
            "base": base,
            "key": key.group(1),
            "orders": f"http://127.0.0.1:{orders_port}",
            "env": env,
            "folder": folder,
            "banner": banner,
            "site": f"http://127.0.0.1:{port}",
        }
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except (requests.ConnectionError, requests.Timeout):  # still starting (busy machine)
        return False


def test_banner_names_base_url_and_key(demo: dict[str, Any]) -> None:
    assert f"open311 demo gateway: {demo['base']}" in demo["banner"]
    assert demo["key"].startswith("o311_")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_pothole_gets_a_work_order_and_comes_back_closed(demo: dict[str, Any], fmt: str) -> None:
    base = demo["base"]
    created = requests.post(
        f"{base}/requests.json",
        data={
            "api_key": demo["key"],
            "service_code": "POTHOLE",
            "lat": 41.3083,
            "long": -72.9279,
            "description": f"Demo pothole ({fmt})",
        },
        timeout=5,
    )
    assert created.status_code == 200, created.text
    rid = created.json()[0]["service_request_id"]
    assert rid.startswith("NHV-")

    def record() -> dict[str, Any]:
        return requests.get(f"{base}/requests/{rid}.json", timeout=5).json()[0]

    received = wait_for(
        lambda: (r := record())["status_notes"] and "WO-" in r["status_notes"] and r
    )
    assert received["agency_responsible"] == "New Haven Department of Public Works"
    order = re.search(r"WO-\d+", received["status_notes"]).group(0)
    page = requests.get(demo["orders"] + "/", timeout=5).text
    assert order in page and rid in page  # the simulated city system shows the order
    closed = wait_for(lambda: (r := record())["status"] == "closed" and r, timeout=40)
    assert closed["status_notes"]
    xml = requests.get(f"{base}/requests/{rid}.xml", timeout=5)
    assert xml.headers["Content-Type"].startswith("text/xml")
    assert b"<status>closed</status>" in xml.content


def test_the_newcomers_pothole_with_a_photo_and_updates_by_mail(demo: dict[str, Any]) -> None:
    """The issue's done-when, through the API the report page uses: a pothole with a photo
    and an e-mail with updates on; followed to closed by the simulated work-order system;
    the mail catcher has the updates, listed at /demo/mail with working links."""
    from tests.media.test_photos import camera_jpeg

    created = requests.post(
        f"{demo['base']}/requests.json",
        data={
            "api_key": demo["key"],
            "service_code": "POTHOLE",
            "lat": 41.3083,
            "long": -72.9279,
            "description": "Pothole with a photo, updates on",
            "email": "newcomer@example.org",
            "notify": "both",
            "language": "en",
        },
        files={"media": ("pothole.jpg", camera_jpeg(), "image/jpeg")},
        timeout=10,
    )
    assert created.status_code == 200, created.text
    rid = created.json()[0]["service_request_id"]
    track = f"{demo['site']}/track/{rid}"

    def caught() -> list[str]:
        return [p.read_text() for p in sorted((demo["folder"] / "mail").glob("*.eml"))]

    def closing_mail() -> bool:
        return any(rid in m and "Its status is now: Closed." in m for m in caught())

    wait_for(closing_mail, timeout=60)
    mine = [m for m in caught() if rid in m]
    assert any("Received by New Haven Department of Public Works" in m for m in mine)
    assert all(track in m and "List-Unsubscribe-Post" in m for m in mine)
    page = requests.get(f"{demo['site']}/track/{rid}", timeout=5)
    assert page.status_code == 200 and "Closed" in page.text and "/media/" in page.text
    listing = requests.get(f"{demo['site']}/demo/mail", timeout=5)
    assert listing.status_code == 200
    assert f'<a href="{track}">' in listing.text
    stop = re.search(r'<a href="(http://[^"]+/notifications/stop/[^"]+)">', listing.text)
    assert stop and requests.get(stop.group(1), timeout=5).status_code == 200


def test_housing_authority_inbox_and_private_reports(demo: dict[str, Any]) -> None:
    base = demo["base"]
    created = requests.post(
        f"{base}/requests.xml",
        data={
            "api_key": demo["key"],
            "service_code": "LEASE_VIOLATION",
            "lat": 41.3083,
            "long": -72.9279,
            "description": "Six people in a unit leased to four",
            "email": "tenant-demo@example.org",
        },
        timeout=5,
    )
    assert created.status_code == 200, created.text
    rid = re.search(rb"<service_request_id>([^<]+)</service_request_id>", created.content)
    assert rid
    rid = rid.group(1).decode()
    assert requests.get(f"{base}/requests/{rid}.json", timeout=5).status_code == 404
    listing = requests.get(f"{base}/requests.json", timeout=5).text
    assert "Six people" not in listing and "tenant-demo" not in listing

    staff_key = subprocess.run(
        [
            sys.executable, "-m", "open311.cli", "--config", str(DEMO_CONFIG),
            "keys", "create", "ha-demo-clerk",
            "--role", "staff", "--agency", "nhv-housing-authority",
        ],
        cwd=demo["folder"], env=demo["env"], capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    headers = {"X-API-Key": staff_key}

    def inbox() -> list[dict[str, Any]]:
        return requests.get(f"{base}/staff/requests.json", headers=headers, timeout=5).json()

    [report] = wait_for(lambda: [r for r in inbox() if r["service_request_id"] == rid])
    assert report["reporter"]["email"] == "tenant-demo@example.org"
    closed = requests.post(
        f"{base}/staff/requests/{rid}/status.json",
        json={"status": "closed", "status_notes": "Lease reviewed with the tenant"},
        headers=headers,
        timeout=5,
    )
    assert closed.status_code == 200, closed.text
    assert requests.get(f"{base}/requests/{rid}.json", timeout=5).status_code == 404
    mine = requests.get(f"{base}/requests/{rid}.json", headers=headers, timeout=5)
    assert mine.status_code == 200 and mine.json()[0]["status"] == "closed"


def test_a_newcomer_signs_in_as_housing_staff_and_closes_the_lease_violation(
    demo: dict[str, Any],
) -> None:
    """The banner's staff sign-in works; the demo's lease-violation report is in the queue;
    claimed and closed with both notes, the public record still knows nothing of it."""
    found = re.search(
        r"staff sign-in \(housing authority\): (\S+)\n\s+e-mail:\s+(\S+)\n\s+password:\s+(\S+)",
        demo["banner"],
    )
    assert found, demo["banner"]
    url, email, password = found.groups()
    browser = requests.Session()

    def token(path: str) -> str:
        page = browser.get(path, timeout=5).text
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    signin = url.rstrip("/") + "/sign-in"
    answer = browser.post(
        signin, data={"email": email, "password": password, "csrf_token": token(signin)}, timeout=5
    )
    assert answer.url.endswith("/staff/queue"), answer.text[:300]
    rid = re.search(r">(NHV-P\w+)</a>", answer.text).group(1)  # type: ignore[union-attr]
    report = url.rstrip("/") + f"/requests/{rid}"
    assert "Lease violation" in browser.get(report, timeout=5).text
    browser.post(report + "/claim", data={"csrf_token": token(report)}, timeout=5)
    closed = browser.post(
        report + "/status",
        data={"status": "closed", "public_note": "Checked.", "internal_note": "Cousin stays.",
              "csrf_token": token(report)},
        timeout=5,
    )  # fmt: skip
    assert "Saved: the report is closed" in closed.text and "Cousin stays." in closed.text
    assert requests.get(f"{demo['base']}/requests/{rid}.json", timeout=5).status_code == 404


def test_docs_and_openapi_are_served(demo: dict[str, Any]) -> None:
    root = demo["base"].rsplit("/open311", 1)[0]
    assert requests.get(f"{root}/openapi.yaml", timeout=5).status_code == 200
    docs = requests.get(f"{root}/docs", timeout=5)
    assert docs.status_code == 200 and "text/html" in docs.headers["Content-Type"]


def test_demo_files_are_inside_the_project() -> None:
    config = Path(__file__).parents[2] / "open311" / "demo" / "config.yaml"
    assert "../shared" not in config.read_text()


def test_terminal_shows_deliveries_and_status_changes_not_polls(demo: dict[str, Any]) -> None:
    """Runs after a report went out and came back closed (above): its terminal has a line
    per delivery and per status change, and none for the status polls of the
    simulated work-order system."""
    log = (demo["folder"] / "demo.log").read_text()
    deliveries = [line for line in log.splitlines() if " open311.outbox delivery " in line]
    assert any("outcome=done" in line and "destination=nhv-public-works" in line
               for line in deliveries), log[-2000:]  # fmt: skip
    assert any("status=closed" in line for line in log.splitlines() if "status change" in line)
    assert "/api/work-orders" not in log  # the simulator's request lines stay quiet
