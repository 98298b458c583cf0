"""Signing in and out: the cookie's flags, CSRF on every form, the API left as it was."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from open311 import DEMO_CONFIG, create_app
from open311.models import ServiceRequest

from .conftest import HOUSING, csrf_token, file_report, make_staff, post, sign_in


def test_session_cookie_is_secure_httponly_and_samesite(db_url: str) -> None:
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})  # Secure is the default
    try:
        password = make_staff(app, "fa@housing.example")
        client = app.test_client()
        client.environ_base["wsgi.url_scheme"] = "https"
        answer = sign_in(client, "fa@housing.example", password)
        assert answer.status_code == 302
        cookie = next(
            h for h in answer.headers.getlist("Set-Cookie") if h.startswith("open311_staff=")
        )
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags
    finally:
        app.extensions["open311"].db.dispose()


def test_pages_need_a_signed_in_member(client: Any) -> None:
    for path in ("/staff/queue", "/staff/queue.csv", "/staff/requests/NHV-1"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/staff/sign-in" in answer.headers["Location"]


def test_a_form_without_its_csrf_token_is_refused(app: Any, client: Any, submit_key: str) -> None:
    password = make_staff(app, "gu@housing.example")
    refused = client.post(
        "/staff/sign-in", data={"email": "gu@housing.example", "password": password}
    )
    assert refused.status_code == 400 and "not sent from this site" in refused.get_data(True)
    assert client.get("/staff/queue").status_code == 302  # not signed in
    assert sign_in(client, "gu@housing.example", password).status_code == 302
    rid = file_report(client, submit_key, "LEASE_VIOLATION")
    forged = client.post(f"/staff/requests/{rid}/status", data={"status": "closed"})
    assert forged.status_code == 400
    bad = client.post(
        f"/staff/requests/{rid}/status", data={"status": "closed", "csrf_token": "x" * 40}
    )
    assert bad.status_code == 400
    assert _status(app, rid) == "open"  # neither forged post changed anything
    ok = post(client, f"/staff/requests/{rid}/status", {"status": "closed"})
    assert ok.status_code == 302 and _status(app, rid) == "closed"


def _status(app: Any, rid: str) -> str:
    with app.extensions["open311"].db.read() as session:
        return str(
            session.scalar(select(ServiceRequest.status).where(ServiceRequest.public_id == rid))
        )


def test_sign_out_ends_the_session(client: Any, housing: dict[str, Any]) -> None:
    page = client.get("/staff/queue")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert post(client, "/staff/sign-out", {}).status_code == 302
    assert client.get("/staff/queue").status_code == 302


def test_sign_in_sends_people_only_to_staff_pages(app: Any, client: Any) -> None:
    password = make_staff(app, "hi@housing.example")
    for target, expected in (("/staff/queue?status=all", "/staff/queue?status=all"),
                             ("https://evil.example/", "/staff/queue"),
                             ("//evil.example/staff/", "/staff/queue")):  # fmt: skip
        answer = client.post(
            "/staff/sign-in",
            data={
                "email": "hi@housing.example",
                "password": password,
                "next": target,
                "csrf_token": csrf_token(client),
            },
        )
        assert answer.headers["Location"] == expected


def test_staff_api_keys_still_work_without_cookies_or_tokens(app: Any, submit_key: str) -> None:
    from tests.conftest import make_key

    client = app.test_client()
    rid = file_report(client, submit_key, "LEASE_VIOLATION")
    key = make_key(app, "housing-machine", "staff", HOUSING)
    claimed = client.post(f"/open311/v2/staff/requests/{rid}/claim.json", data={"api_key": key})
    assert claimed.status_code == 200, claimed.get_data(as_text=True)
    assert claimed.get_json()[0]["claimed_by"] == "housing-machine"


def test_without_a_configured_secret_the_pages_refuse_rather_than_sign_in_at_random(
    db_url: str, monkeypatch: Any
) -> None:
    monkeypatch.delenv("OPEN311_SECRET_KEY", raising=False)
    app = create_app(
        {"DATABASE_URL": db_url, "CONFIG": str(DEMO_CONFIG)}
    )  # not TESTING: a real server's settings
    try:
        answer = app.test_client().get("/staff/sign-in")
        assert answer.status_code == 503 and "OPEN311_SECRET_KEY" in answer.get_data(True)
    finally:
        app.extensions["open311"].db.dispose()
    monkeypatch.setenv("OPEN311_SECRET_KEY", "x" * 64)
    app = create_app({"DATABASE_URL": db_url, "CONFIG": str(DEMO_CONFIG)})
    try:
        assert app.test_client().get("/staff/sign-in").status_code == 200
    finally:
        app.extensions["open311"].db.dispose()
