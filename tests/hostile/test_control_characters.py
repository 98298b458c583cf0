"""Item 7: control characters in free text are a 400, whichever input carries them. NUL,
BEL, ESC were accepted in descriptions and text attributes and answered back (a NUL would
not even store on PostgreSQL). Now every free-text input is a `Text` field
(schemas/fields.py) that refuses what XML 1.0 cannot carry: the C0 controls but tab and
line breaks, and U+FFFE/U+FFFF. Tab, CR and LF are text, and kept."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from open311.models import ServiceRequest
from tests.conftest import make_key
from tests.helpers import NEW_HAVEN_GREEN, parse
from tests.privacy.common import created, deliver_all
from tests.staff.conftest import HOUSING, csrf_token, make_staff, sign_in

from .conftest import API, Unchanged, refused

CONTROLS = {
    "nul": "\x00",
    "bel": "\x07",
    "esc": "\x1b",
    "vt": "\x0b",
    "us": "\x1f",
    "ffff": "\uffff",
}
WHERE = {"lat": str(NEW_HAVEN_GREEN[0]), "long": str(NEW_HAVEN_GREEN[1])}


def _report(**fields: str) -> dict[str, str]:
    return {"service_code": "POTHOLE", **WHERE, **fields}


# (what is posted, the parameter the error names). A NUL is refused before any schema
# (open311/input_guard.py), naming the parameter too.
REPORT_FIELDS = [
    (_report(description="Deep {}hole"), "description"),
    (_report(address_string="1 Church{} St"), "address_string"),
    (_report(address_id="A{}1"), "address_id"),
    (_report(zipcode="065{}10"), "zipcode"),
    (_report(first_name="Ann{}"), "first_name"),
    (_report(last_name="{}Lee"), "last_name"),
    (_report(phone="203{}5550199"), "phone"),
    (_report(device_id="dev{}1"), "device_id"),
    (_report(account_id="acct{}1"), "account_id"),
    ({"service_code": "LEAK", **WHERE, "attribute[DETAILS]": "From {}the main"}, "DETAILS"),
    ({"service_code": "STREETLIGHT", **WHERE, "attribute[POLE_NUMBER]": "P{}12"}, "POLE_NUMBER"),
]


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize(("fields", "name"), REPORT_FIELDS, ids=[n for _, n in REPORT_FIELDS])
def test_a_control_character_in_a_report_is_a_400(
    app: Any,
    client: Any,
    fmt: str,
    submit_key: str,
    fields: dict[str, str],
    name: str,
    control: str,
) -> None:
    data = {k: v.format(control) for k, v in fields.items()}
    with Unchanged(app):
        response = client.post(f"{API}/requests.{fmt}", data={"api_key": submit_key, **data})
        refused(response, fmt, 400, name)


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize("name", ["description", "update_id", "update_id_ext"])
def test_a_control_character_in_an_app_update_is_a_400(
    app: Any, client: Any, fmt: str, name: str, control: str
) -> None:
    key = make_key(app, "resident-app")
    rid = created(client, key, "POTHOLE")["service_request_id"]
    data = {"api_key": key, "service_request_id": rid, "description": "Still there"}
    data[name] = f"{data.get(name, 'x-1')}{control}"
    with Unchanged(app):
        response = client.post(f"{API}/servicerequestupdates.{fmt}", data=data)
        refused(response, fmt, 400, name)


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize("name", ["status_notes", "internal_note", "detailed_status"])
@pytest.mark.parametrize("body", ["form", "json"])
def test_a_control_character_from_staff_is_a_400(
    app: Any, client: Any, fmt: str, name: str, control: str, body: str
) -> None:
    key = make_key(app, "resident-app")
    rid = created(client, key, "NEIGHBOR_COMPLAINT")["service_request_id"]
    deliver_all(app)
    staff = make_key(app, "ha-clerk", "staff", HOUSING)
    data = {"status": "open", name: f"Visit{control} booked"}
    sent: dict[str, Any] = {"json": data} if body == "json" else {"data": data}
    # In JSON a NUL arrives escaped (\u0000), past the input guard: the schema refuses it.
    with Unchanged(app):
        response = client.post(
            f"{API}/staff/requests/{rid}/status.{fmt}", headers={"X-API-Key": staff}, **sent
        )
        refused(response, fmt, 400, name)


@pytest.mark.parametrize("control", ["\x07", "\x1b", "\uffff"])
@pytest.mark.parametrize("name", ["public_note", "internal_note"])
def test_a_control_character_in_a_staff_page_form_is_not_saved(
    app: Any, client: Any, submit_key: str, name: str, control: str
) -> None:
    """The staff pages answer a form's refusal on the page itself (a message, no change)."""
    email = "ana@housing.example"
    assert sign_in(client, email, make_staff(app, email)).status_code == 302
    rid = created(client, submit_key, "LEASE_VIOLATION")["service_request_id"]
    token = csrf_token(client, "/staff/queue")  # the page's read is audited: outside
    with Unchanged(app):
        for path, form in (
            (f"/staff/requests/{rid}/status", {"status": "closed"}),
            ("/staff/bulk", {"ids": rid, "action": "close"}),
        ):
            sent = {**form, name: f"a{control}b", "csrf_token": token}
            assert client.post(path, data=sent).status_code == 302
    page = client.get(f"/staff/requests/{rid}").get_data(as_text=True)
    assert "not saved" in page
    with app.extensions["open311"].db.read() as session:
        assert (
            session.scalar(select(ServiceRequest.status).where(ServiceRequest.public_id == rid))
            == "open"
        )


def test_tab_and_line_breaks_are_text(app: Any, client: Any, fmt: str, submit_key: str) -> None:
    response = client.post(
        f"{API}/requests.{fmt}",
        data={"api_key": submit_key, **_report(description="Deep\thole\r\nnear the\rkerb")},
    )
    assert response.status_code == 200, response.data
    rid = parse(response, fmt)[0]["service_request_id"]
    [report] = parse(client.get(f"{API}/requests/{rid}.{fmt}"), fmt)
    assert report["description"] == "Deep\thole\nnear the\nkerb"
