"""Pages in a real browser: shared fixtures for the resident and staff page tests.

- `live_server`: the test app (the `app` fixture, so a module's `settings` override applies)
  served by a threaded werkzeug server on 127.0.0.1; yields its base URL.
- `browser` (tests/support/browser.py, one for the whole run): headless Chromium.
- `phone`: a fresh browser context at 390×844 (touch, mobile) and its page; `desktop` the
  same at 1280×900; `phone_without_javascript` the phone with scripts off. Each test gets
  its own cookies and storage.
- `axe_violations(page)`: runs the vendored axe-core (tests/pages/axe.min.js, see
  VENDORED.md) on the page and returns the serious and critical violations.
- `screenshot(page, name)`: takes the full page as NAME.png; into docs/screenshots (the
  README's pictures) only with OPEN311_SCREENSHOTS=1 (`make screenshots`), so that running
  the suite leaves the checkout as it was.

Names outside 127.0.0.1 do not resolve in the browser: a page that tries to load anything
from elsewhere fails its test rather than reaching the network.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import serve_on_loopback

REPO = Path(__file__).resolve().parents[2]
AXE = Path(__file__).with_name("axe.min.js")
SCREENSHOTS = REPO / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    with serve_on_loopback(app) as url:
        yield url


def _page(
    browser: Any, viewport: dict[str, int], mobile: bool, javascript: bool = True
) -> Iterator[Any]:
    context = browser.new_context(
        java_script_enabled=javascript,
        viewport=viewport,
        is_mobile=mobile,
        has_touch=mobile,
        device_scale_factor=2 if mobile else 1,
        locale="en-US",
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # read by tests: a script error on a page is a failure
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    yield from _page(browser, PHONE, mobile=True)


@pytest.fixture
def phone_without_javascript(browser: Any) -> Iterator[Any]:
    """An old phone, or one with scripts blocked: the pages must still work."""
    yield from _page(browser, PHONE, mobile=True, javascript=False)


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    yield from _page(browser, {"width": 1280, "height": 900}, mobile=False)


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations of the given impacts, one line each."""
    # Evaluated over the DevTools protocol, so the page's CSP (no inline script) stays on.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                            'best-practice']}})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def screenshot(page: Any, name: str) -> Path:
    """NAME.png, the full page: in docs/screenshots (the README shows these) when
    OPEN311_SCREENSHOTS=1, else in a temporary folder (the page is still rendered whole)."""
    folder = (
        SCREENSHOTS
        if os.environ.get("OPEN311_SCREENSHOTS") == "1"
        else Path(tempfile.gettempdir()) / "open311-screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
