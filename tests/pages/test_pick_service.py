"""Step 1 of a report at phone width: services grouped and searchable, accessible."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import axe_violations

pytestmark = pytest.mark.browser


def test_services_are_grouped_and_the_search_filters_them(phone: Any, live_server: str) -> None:
    phone.goto(live_server + "/")
    groups = phone.locator(".service-group h3").all_inner_texts()
    assert "Streets" in groups and "Water" in groups, groups
    phone.get_by_label("Search services").fill("leak")
    visible = phone.locator(".js-service:visible a").all_inner_texts()
    assert visible == ["Water leak"], visible
    phone.get_by_label("Search services").fill("nothing-like-this")
    assert phone.locator(".js-none").is_visible()
    assert not axe_violations(phone)
    assert not phone.js_errors


def test_the_page_speaks_spanish(phone: Any, live_server: str) -> None:
    phone.goto(live_server + "/?lang=es")
    assert phone.locator("html").get_attribute("lang") == "es"
    assert phone.locator("h1").inner_text() == "Informar de un problema"
    # The choice sticks: the next page is in Spanish without ?lang.
    phone.goto(live_server + "/track")
    assert phone.locator("h1").inner_text() == "Seguir un informe"
