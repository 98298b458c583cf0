"""The run's one browser: headless Chromium (Debian's /usr/bin/chromium, or OPEN311_CHROMIUM)
driven by Playwright, no browser download; tests that ask for it are skipped when either is
missing.

It is a plugin of the root conftest rather than a fixture of tests/pages so that every test
asking for `browser` shares one instance: Playwright's sync API refuses to start a second
instance while another is open, and a session fixture imported into a second module is a
second fixture with its own instance.

Names outside 127.0.0.1 do not resolve in the browser: a page that tries to load anything
from elsewhere fails its test rather than reaching the network.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def chromium_path() -> str | None:
    explicit = os.environ.get("OPEN311_CHROMIUM")
    for candidate in ((explicit,) if explicit else ()) + CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = chromium_path()
    if exe is None:
        pytest.skip("Chromium not found (Debian: apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=exe, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@contextlib.contextmanager
def serve_on_loopback(app: Any) -> Iterator[str]:
    """`app` served by a threaded werkzeug server on 127.0.0.1 for the browser; yields its
    base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
