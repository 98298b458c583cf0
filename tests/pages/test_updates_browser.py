"""Updates for the reporter in a real browser, at phone width: the "send me updates" box
appears once an e-mail is typed, the report goes out with the opt-in and the page's
language, the mail arrives at a real SMTP server, and its stop link's page works (and is
accessible)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.notifications import conftest as updates

from .conftest import axe_violations, screenshot

# The notification tests' loopback SMTP server, SMS gateway and worker.
mail_server, sms_gateway, outbox = updates.mail_server, updates.sms_gateway, updates.outbox


@pytest.fixture
def settings(
    db_url: str, mail_server: Any, sms_gateway: Any, monkeypatch: Any, tmp_path: Path
) -> dict[str, Any]:
    """The notification tests' configuration, and the demo's caught-mail page on."""
    base = updates.settings.__wrapped__(db_url, mail_server, sms_gateway, monkeypatch)
    return {**base, "DEMO_MAIL_FOLDER": str(tmp_path / "caught")}


pytestmark = pytest.mark.browser


def test_asking_for_updates_and_stopping_them(
    app: Any, phone: Any, live_server: str, outbox: Any, mail_server: Any
) -> None:
    phone.goto(live_server + "/report/testcity.gov/TENANT?lang=es")
    box = phone.get_by_label("Enviarme novedades sobre este informe", exact=False)
    assert not box.is_visible()  # nothing to send them to yet
    phone.get_by_label("Correo electrónico", exact=True).fill("tenant.7f3a@example.org")
    box.wait_for(state="visible")
    box.check()
    phone.get_by_label("Dirección o lugar", exact=False).fill("3 Ash Ct")
    assert not axe_violations(phone)
    phone.locator("button[type=submit]").click()
    phone.wait_for_url("**/track/TC-*?new=1")
    number = phone.locator(".tracking-number").inner_text()

    outbox.drain()  # received by the inbox: the first change, announced in Spanish
    (mail,) = mail_server.mails
    assert mail.message["Subject"] == f"Novedades sobre su informe {number}"
    link = mail.message["List-Unsubscribe"].strip("<>")

    # The demo's page of caught mail, its folder filled as the demo's catcher does.
    folder = Path(app.config["DEMO_MAIL_FOLDER"])
    folder.mkdir()
    (folder / "20261202-140000-0001.eml").write_bytes(mail.content)
    phone.goto(live_server + "/demo/mail?lang=en")
    assert f"Novedades sobre su informe {number}" in phone.locator("main").inner_text()
    assert phone.locator(f'a[href="{link}"]').count() == 1
    assert not axe_violations(phone)
    screenshot(phone, "demo-mail")

    phone.goto(live_server + link.removeprefix("https://report.testcity.example") + "?lang=es")
    assert number in phone.locator("main").inner_text()
    assert not axe_violations(phone)
    phone.get_by_role("button", name="Dejar de recibir novedades").click()
    phone.get_by_text(f"No recibirá más novedades sobre el informe {number}.").wait_for()
    assert not axe_violations(phone)
    assert not phone.js_errors
