"""/docs in a real browser: headless Chromium renders the operations, and every request the
page makes stays on the loopback server.

Needs Chromium (Debian: `apt-get update && apt-get install -y chromium`); skipped without it.
Run only this: `python -m pytest tests/docs -m browser`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from lxml import html

from tests.support.browser import LAUNCH_ARGS, chromium_path, serve_on_loopback

pytestmark = pytest.mark.browser

INSTALL_HINT = (
    "Chromium not found: install it to run the browser test "
    "(Debian/Ubuntu: apt-get update && apt-get install -y chromium), "
    "or set OPEN311_CHROMIUM to the browser's path."
)


@pytest.fixture
def live_server(docs_app: Any) -> Iterator[str]:
    with serve_on_loopback(docs_app) as url:
        yield url


def run_chromium(url: str, workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    exe = chromium_path()
    if exe is None:
        pytest.skip(INSTALL_HINT)
    command = [
        exe,
        "--headless",
        # LAUNCH_ARGS ends with the resolver rule: names other than the loopback address do
        # not resolve, and a request that tries to leave is still recorded in the net log.
        *LAUNCH_ARGS,
        f"--user-data-dir={workdir / 'profile'}",
        f"--log-net-log={workdir / 'netlog.json'}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        "--window-size=1280,2000",
        *extra,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def page_requests(netlog: Path, page_site: str) -> list[str]:
    """URLs the page itself asked for (the browser's own background requests, which have
    another network isolation key, are left out)."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start_job and page_site in params.get("network_isolation_key", ""):
            urls.append(params["url"])
    return urls


def test_docs_render_operations_in_chromium(
    live_server: str, spec: dict[str, Any], tmp_path: Path
) -> None:
    result = run_chromium(f"{live_server}/docs", tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    tree = html.fromstring(result.stdout)

    # Swagger UI ran: one summary per operation of the description, by path and method.
    shown = {
        (
            block.xpath("string(.//*[contains(@class, 'opblock-summary-method')])").lower(),
            block.xpath("string(.//*[contains(@class, 'opblock-summary-path')]/@data-path)"),
        )
        for block in tree.xpath("//div[contains(concat(' ', @class, ' '), ' opblock ')]")
    }
    described = {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post")
    }
    assert described <= shown, sorted(described - shown)[:5]
    paths = {path for _, path in shown}
    for name in ("services.json", "services.xml", "requests.json", "requests.xml"):
        assert f"/open311/v2/{name}" in paths, name
    assert "Open311 GeoReport v2 gateway" in result.stdout

    # Nothing blocked by the page's Content-Security-Policy, nothing fetched elsewhere.
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert not [line for line in console if "Content Security Policy" in line], console
    requests = page_requests(tmp_path / "netlog.json", "http://127.0.0.1")
    assert any(url.endswith("/openapi.yaml") for url in requests), requests
    assert any(url.endswith("/swagger-ui-bundle.js") for url in requests), requests
    server = urlsplit(live_server).netloc
    outside = [url for url in requests if urlsplit(url).netloc != server]
    assert not outside, outside
