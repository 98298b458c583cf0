"""A resident reports a pothole from a phone (390×844) in headless Chromium: service,
description, location from the browser, photo, contact rule shown, sent through the API,
tracking number, tracking page with the photo; offline a report is kept and sent once
when the connection returns; the form works from the keyboard alone; axe finds no serious
or critical violation on any of these pages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from open311.models import ServiceRequest
from tests.helpers import NEW_HAVEN_GREEN
from tests.media.test_photos import camera_jpeg

from .conftest import axe_violations, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def settings(db_url: str, tmp_path: Any) -> dict[str, Any]:
    return {"DATABASE_URL": db_url, "TESTING": True, "MEDIA_FOLDER": str(tmp_path / "media")}


def reports(client: Any) -> list[dict[str, Any]]:
    return client.get("/open311/v2/requests.json?extensions=true").get_json()


def test_a_pothole_with_a_photo_from_a_phone(phone: Any, live_server: str, client: Any) -> None:
    phone.context.grant_permissions(["geolocation"])
    phone.context.set_geolocation({"latitude": NEW_HAVEN_GREEN[0], "longitude": NEW_HAVEN_GREEN[1]})
    phone.goto(live_server + "/")
    phone.get_by_role("link", name="Pothole").click()
    assert phone.locator("h1").inner_text() == "Pothole"
    # The contact rule of the service is shown before sending.
    assert "contact details are optional" in phone.locator("#contact-rule").inner_text()
    phone.get_by_label("Describe the problem").fill("Deep pothole by the bus stop")
    phone.get_by_role("button", name="Use my location").click()
    phone.get_by_text("Location found.").wait_for()
    assert float(phone.get_by_label("Latitude").input_value()) == pytest.approx(NEW_HAVEN_GREEN[0])
    phone.get_by_label("Add a photo").set_input_files(
        {"name": "pothole.jpg", "mimeType": "image/jpeg", "buffer": camera_jpeg()}
    )
    phone.locator(".js-preview").wait_for(state="visible")
    assert not axe_violations(phone)
    screenshot(phone, "report-page")
    phone.get_by_role("button", name="Send the report").click()
    phone.wait_for_url("**/track/NHV-*?new=1")
    number = phone.locator(".tracking-number").inner_text()
    assert number.startswith("NHV-")
    photo = phone.locator("img.photo")
    assert photo.evaluate("img => img.complete && img.naturalWidth") == 640
    assert not axe_violations(phone)
    screenshot(phone, "tracking-page")
    [stored] = reports(client)
    assert stored["service_request_id"] == number
    assert stored["description"] == "Deep pothole by the bus stop"
    assert stored["lat"] == pytest.approx(NEW_HAVEN_GREEN[0])
    assert "/media/" in stored["media_url"]
    assert not phone.js_errors


def test_a_report_written_offline_is_sent_once_when_the_connection_returns(
    phone: Any, live_server: str, client: Any
) -> None:
    phone.goto(live_server + "/report/newhavenct.gov/STREETLIGHT")
    phone.context.set_offline(True)
    phone.get_by_label("Describe the problem").fill("Dark since Monday")
    phone.get_by_label("Address or place").fill("Chapel St & College St")
    phone.get_by_label("Add a photo").set_input_files(
        {"name": "dark.jpg", "mimeType": "image/jpeg", "buffer": camera_jpeg(320, 240)}
    )
    phone.get_by_role("button", name="Send the report").click()
    status = phone.locator(".js-offline")
    status.get_by_text("You are offline").wait_for()
    assert reports(client) == []
    phone.context.set_offline(False)
    status.get_by_text("Your saved report was sent").wait_for()
    number = status.locator("a").inner_text()
    # A second chance to send (a reload) finds nothing left and files nothing twice.
    phone.reload()
    phone.wait_for_load_state("networkidle")
    [stored] = reports(client)
    assert stored["service_request_id"] == number
    assert stored["description"] == "Dark since Monday"
    assert stored["media_url"] and "/media/" in stored["media_url"]
    assert not phone.js_errors


def test_the_whole_report_works_from_the_keyboard(
    phone: Any, live_server: str, database: Any
) -> None:
    phone.goto(live_server + "/")

    def tab_to(text: str, limit: int = 60) -> None:
        for _ in range(limit):
            phone.keyboard.press("Tab")
            focused = phone.evaluate(
                "() => (document.activeElement.labels && document.activeElement.labels[0]"
                " ? document.activeElement.labels[0].innerText : document.activeElement.innerText)"
            )
            if focused.strip().startswith(text):
                return
        raise AssertionError(f"never reached {text!r} with Tab")

    tab_to("Skip to main content")
    tab_to("Graffiti")
    phone.keyboard.press("Enter")
    phone.wait_for_url("**/report/newhavenct.gov/GRAFFITI")
    tab_to("Describe the problem")
    phone.keyboard.type("Tags on the library wall")
    tab_to("Address or place")
    phone.keyboard.type("133 Elm St")
    tab_to("Send the report")
    phone.keyboard.press("Enter")
    # Graffiti is a blackbox service: no number is handed out, so the page says received.
    phone.wait_for_url("**/received")
    assert phone.locator("h1").inner_text() == "Report received"
    # The focus ring is visible on the focused element (WCAG 2.4.7).
    tab_to("Report a problem")
    outline = phone.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    # Graffiti is a blackbox service, never listed publicly with its id: the stored report is
    # read from the database.
    with database.read() as session:
        stored = session.scalars(select(ServiceRequest.description)).all()
    assert stored == ["Tags on the library wall"]


def test_errors_from_the_api_are_shown_and_focused(phone: Any, live_server: str) -> None:
    phone.goto(live_server + "/report/newhavenct.gov/POTHOLE")
    phone.get_by_role("button", name="Send the report").click()
    box = phone.locator(".js-errors")
    box.wait_for(state="visible")
    assert "location is required" in box.inner_text()
    assert phone.evaluate("() => document.activeElement.classList.contains('js-errors')")
    assert not axe_violations(phone)


def test_the_tracking_form_and_a_private_report(
    phone: Any, live_server: str, client: Any, submit_key: str
) -> None:
    from tests.helpers import HOUSING_PROPERTY, post_request

    private = post_request(
        client,
        "json",
        submit_key,
        service_code="NEIGHBOR_COMPLAINT",
        lat=HOUSING_PROPERTY[0],
        long=HOUSING_PROPERTY[1],
        description="Loud music every night",
    ).get_json()[0]["service_request_id"]
    phone.goto(live_server + "/track")
    phone.get_by_label("Tracking number").fill(private)
    phone.get_by_role("button", name="Show the report").click()
    assert phone.locator("h1").inner_text() == "Report received"
    assert "Loud music" not in phone.content()
    assert not axe_violations(phone)
    phone.goto(live_server + "/track?id=NHV-999999")
    assert "We found no report" in phone.locator(".error-message").inner_text()
    assert not axe_violations(phone)


def test_the_form_works_without_javascript(
    phone_without_javascript: Any, live_server: str, client: Any
) -> None:
    page = phone_without_javascript
    page.goto(live_server + "/report/newhavenct.gov/POTHOLE")
    # Refused first (no location): the API's error, on the form again with what was typed.
    page.get_by_label("Describe the problem").fill("Deep pothole by the bus stop")
    page.get_by_role("button", name="Send the report").click()
    page.wait_for_load_state()
    assert "location is required" in page.locator(".js-errors").inner_text()
    assert page.get_by_label("Describe the problem").input_value() == (
        "Deep pothole by the bus stop"
    )
    assert reports(client) == []
    page.get_by_label("Address or place").fill("165 Church St")
    # A photo from the phone's camera goes with the form too.
    page.get_by_label("Add a photo").set_input_files(
        {"name": "hole.jpg", "mimeType": "image/jpeg", "buffer": camera_jpeg(2400, 1800)}
    )
    page.get_by_role("button", name="Send the report").click()
    page.wait_for_url("**/track/*?new=1")
    [stored] = reports(client)
    assert stored["description"] == "Deep pothole by the bus stop"
    assert stored["media_url"] and "/media/" in stored["media_url"]
    assert stored["service_request_id"] in page.locator("h1").inner_text()
    # (No axe run here: axe is a script, and this page has scripts off. The same pages are
    # checked with scripts on by the tests above.)
