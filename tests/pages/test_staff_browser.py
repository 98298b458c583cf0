"""The staff pages in headless Chromium, by keyboard only: a housing-authority member signs
in, finds the private lease-violation report, claims it, closes it with an internal and a
public note; the public API then knows nothing of it. axe-core finds no serious or critical
problem on any page, at phone or desktop width."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import make_key
from tests.staff.conftest import HOUSING, NEW_HAVEN, make_staff

from .conftest import PHONE, axe_violations, screenshot

pytestmark = pytest.mark.browser

SECRET = "Internal: the tenant's brother lives there too"
PUBLIC = "Reviewed by the housing authority."


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    return {"DATABASE_URL": db_url, "TESTING": True, "STAFF_COOKIE_SECURE": False}


@pytest.fixture
def filed(app: Any, live_server: str) -> dict[str, str]:
    key = make_key(app, "resident-app")
    answer = requests.post(
        f"{live_server}/open311/v2/requests.json",
        data={"api_key": key, "service_code": "LEASE_VIOLATION", **NEW_HAVEN,
              "description": "Six people in a unit leased to two", "email": "t@example.org"},
        timeout=10,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    email = "ana@housing.example"
    return {
        "id": answer.json()[0]["service_request_id"],
        "email": email,
        "password": make_staff(app, email, HOUSING),
    }


def tab_to(page: Any, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has the focus, as a keyboard user
    would; fails if it is never reached."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_claim_to_closed_by_keyboard_with_no_serious_accessibility_problem(
    desktop: Any, live_server: str, filed: dict[str, str]
) -> None:
    page = desktop
    rid = filed["id"]
    page.goto(f"{live_server}/staff/")
    assert "/staff/sign-in" in page.url
    assert axe_violations(page) == []
    tab_to(page, "#email")
    page.keyboard.type(filed["email"])
    page.keyboard.press("Tab")
    page.keyboard.type(filed["password"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/queue")
    assert axe_violations(page) == []
    screenshot(page, "staff-queue-desktop")

    tab_to(page, f"a[href$='/staff/requests/{rid}']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/staff/requests/{rid}")
    assert "t@example.org" in page.content()
    assert axe_violations(page) == []
    tab_to(page, "form[action$='/claim'] button")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=You have claimed")

    tab_to(page, "#status-open")  # the group's checked radio takes the focus
    page.keyboard.press("ArrowDown")
    assert page.is_checked("#status-closed")
    page.keyboard.press("Tab")
    page.keyboard.type(PUBLIC)
    page.keyboard.press("Tab")
    page.keyboard.type(SECRET)
    tab_to(page, ".status-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Saved: the report is closed")
    history = page.inner_text("ol.history")
    assert SECRET in history and PUBLIC in history
    assert axe_violations(page) == []
    screenshot(page, "staff-report-desktop")

    page.set_viewport_size(PHONE)
    assert axe_violations(page) == []
    screenshot(page, "staff-report-phone")
    page.goto(f"{live_server}/staff/queue?status=all")
    assert axe_violations(page) == []
    screenshot(page, "staff-queue-phone")
    assert page.js_errors == []

    # The public record: the report is not there, by id or in any list.
    for fmt in ("json", "xml"):
        public = requests.get(f"{live_server}/open311/v2/requests/{rid}.{fmt}", timeout=10)
        assert public.status_code == 404
        listed = requests.get(f"{live_server}/open311/v2/requests.{fmt}?status=closed", timeout=10)
        assert rid not in listed.text and SECRET not in listed.text
