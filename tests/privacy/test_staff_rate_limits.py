"""Staff writes and webhook pushes are rate limited (issue 8, item 11): the staff API's
POSTs per staff key and per address, the staff pages' POSTs per address, the webhook per
address. Over the limit: 429 with Retry-After, as the Open311 error list in the requested
format (the staff pages: their error page). The configuration is tests/privacy/gateway.yaml
with `staff` and `webhook` at 2 per minute."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from open311 import create_app
from open311.staff_accounts import create_user
from tests.conftest import make_key
from tests.staff.conftest import csrf_token

from .common import API
from .test_rate_limits import assert_limited

SECRET = "desk-webhook-secret"


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Any]:
    config = yaml.safe_load((Path(__file__).parent / "gateway.yaml").read_text(encoding="utf-8"))
    config["gateway"]["rate_limits"] = {
        "submit": "50 per minute",
        "read": "100 per minute",
        "staff": "2 per minute",
        "webhook": "2 per minute",
    }
    config["agencies"][0]["webhook_secret"] = SECRET
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    application = create_app(
        {"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(path),
         "SECRET_KEY": "staff-limits-test-secret", "STAFF_COOKIE_SECURE": False}
    )  # fmt: skip
    yield application
    application.extensions["open311"].db.dispose()


def file_report(client: Any, key: str) -> str:
    answer = client.post(
        f"{API}/requests.json",
        data={"api_key": key, "service_code": "NOISE", "address_string": "1 Quiet Lane"},
    )
    assert answer.status_code == 200, answer.data
    return str(answer.get_json()[0]["service_request_id"])


def test_staff_api_posts_are_limited_per_key(app: Any, fmt: str) -> None:
    client = app.test_client()
    rid = file_report(client, make_key(app, "app"))
    staff = make_key(app, "desk-clerk", role="staff", agency="desk")
    status = f"{API}/staff/requests/{rid}/status.{fmt}"
    for note in ("one", "two"):
        answer = client.post(
            status, data={"status": "open", "status_notes": note}, headers={"X-API-Key": staff}
        )
        assert answer.status_code == 200, answer.data
    limited = client.post(
        f"{API}/staff/requests/{rid}/claim.{fmt}",
        headers={"X-API-Key": staff},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},  # another address: the key's budget is spent
    )
    assert_limited(limited, fmt)
    # Reads by the same key are counted as reads, not as staff writes.
    assert (
        client.get(f"{API}/staff/requests.{fmt}", headers={"X-API-Key": staff}).status_code == 200
    )


def _signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Open311-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def test_webhook_pushes_are_limited_per_address(app: Any, fmt: str) -> None:
    client = app.test_client()
    url = f"{API}/agencies/desk/updates.{fmt}"
    body = json.dumps({"updates": []}).encode()
    # Forged pushes count too: the limit comes before the signature check.
    assert (
        client.post(url, data=body, headers={"X-Open311-Signature": "sha256=00"}).status_code == 403
    )
    # (Signed, but an empty push: refused as such, 400, and counted.)
    assert client.post(url, data=body, headers=_signed(body)).status_code == 400
    assert_limited(client.post(url, data=body, headers=_signed(body)), fmt)
    # The real back-end pushing from its own address is not held up by that flood.
    other = client.post(
        url, data=body, headers=_signed(body), environ_base={"REMOTE_ADDR": "10.1.1.1"}
    )
    assert other.status_code == 400, other.data


def test_staff_page_posts_are_limited(app: Any) -> None:
    gw = app.extensions["open311"]
    with gw.db.write() as session, session.begin():
        password = create_user(session, gw.catalog, "clerk@desk.example", "desk", "staff")
    client = app.test_client()
    rid = file_report(client, make_key(app, "app"))
    signed_in = client.post(
        "/staff/sign-in",
        data={"email": "clerk@desk.example", "password": password,
              "csrf_token": csrf_token(client)},
    )  # fmt: skip
    assert signed_in.status_code == 302, signed_in.data
    page = f"/staff/requests/{rid}"
    answers = [
        client.post(f"{page}/claim", data={"csrf_token": csrf_token(client, page)})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers[:2]] != [429, 429], answers
    assert answers[2].status_code == 429
    assert answers[2].headers.get("Retry-After")
    assert "text/html" in answers[2].headers["Content-Type"]
