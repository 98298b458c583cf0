"""The staff pages through Flask's test client: accounts, a signed-in client, reports
filed through the API, and the CSRF token a page carries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from open311.staff_accounts import create_user

HOUSING = "nhv-housing-authority"
PUBLIC_WORKS = "nhv-public-works"
# A point in New Haven that no housing-authority property covers.
NEW_HAVEN = {"lat": "41.3083", "long": "-72.9279"}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> dict[str, Any]:
    # The test client speaks http, so the cookie must not be Secure-only here (one test
    # checks the Secure flag with its own app).
    return {
        "DATABASE_URL": db_url,
        "TESTING": True,
        "STAFF_COOKIE_SECURE": False,
        "MEDIA_FOLDER": str(tmp_path / "media"),
    }


def make_staff(app: Any, email: str, agency: str = HOUSING, role: str = "staff") -> str:
    gw = app.extensions["open311"]
    with gw.db.write() as session, session.begin():
        return create_user(session, gw.catalog, email, agency, role)


def csrf_token(client: Any, path: str = "/staff/sign-in") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def sign_in(client: Any, email: str, password: str) -> Any:
    return client.post(
        "/staff/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
    )


def post(client: Any, path: str, data: dict[str, Any], page: str = "/staff/queue") -> Any:
    """A form post with the token of a page the member has open."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def file_report(client: Any, key: str, service_code: str, **fields: str) -> str:
    data = {"api_key": key, "service_code": service_code, **NEW_HAVEN, **fields}
    data.setdefault("description", f"A {service_code} report")
    answer = client.post("/open311/v2/requests.json", data=data)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_json()[0]["service_request_id"])


@pytest.fixture
def housing(app: Any, client: Any) -> dict[str, Any]:
    """A housing-authority member, signed in on `client`."""
    email = "ana@housing.example"
    password = make_staff(app, email)
    assert sign_in(client, email, password).status_code == 302
    return {"email": email, "password": password}
