"""Staff accounts: created with the CLI against the configuration, hashed, locked after
repeated failures, ended by a reset or a disable."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from open311 import DEMO_CONFIG
from open311.cli import main
from open311.models import StaffUser
from open311.staff_accounts import MAX_FAILURES, disable_user, set_password

from .conftest import HOUSING, make_staff, sign_in


def _cli(db_url: str, *args: str) -> Any:
    command = ["--database-url", db_url, "--config", str(DEMO_CONFIG), "staff-users", *args]
    return CliRunner().invoke(main, command)


def test_cli_creates_an_account_bound_to_a_configured_agency(db_url: str, app: Any) -> None:
    made = _cli(db_url, "create", "--agency", HOUSING, "--role", "admin", "--email", "Bo@X.org")
    assert made.exit_code == 0, made.output
    password = made.stdout.strip().splitlines()[-1]
    assert len(password) >= 12
    with app.extensions["open311"].db.read() as session:
        row = session.scalar(select(StaffUser).where(StaffUser.email == "bo@x.org"))
        assert row is not None and row.agency == HOUSING and row.role == "admin"
        assert password not in row.password_hash and row.password_hash.startswith("scrypt:")
    assert sign_in(app.test_client(), "bo@x.org", password).status_code == 302
    listed = _cli(db_url, "list")
    assert "bo@x.org" in listed.output and "admin" in listed.output


def test_cli_refuses_unknown_agencies_roles_and_duplicates(db_url: str, app: Any) -> None:
    unknown = _cli(db_url, "create", "--agency", "nowhere", "--email", "a@x.org")
    assert unknown.exit_code != 0 and "unknown agency 'nowhere'" in unknown.output
    assert HOUSING in unknown.output  # the message lists the configured agencies
    role = _cli(db_url, "create", "--agency", HOUSING, "--role", "root", "--email", "a@x.org")
    assert role.exit_code != 0
    assert _cli(db_url, "create", "--agency", HOUSING, "--email", "a@x.org").exit_code == 0
    twice = _cli(db_url, "create", "--agency", HOUSING, "--email", "A@x.org")
    assert twice.exit_code != 0 and "exists already" in twice.output


def test_repeated_failures_lock_the_account_even_for_the_right_password(app: Any) -> None:
    password = make_staff(app, "cy@housing.example")
    client = app.test_client()
    for _ in range(MAX_FAILURES - 1):
        assert sign_in(client, "cy@housing.example", "wrong password!").status_code == 401
    assert sign_in(client, "cy@housing.example", "wrong password!").status_code == 429
    locked = sign_in(client, "cy@housing.example", password)
    assert locked.status_code == 429 and "locked" in locked.get_data(as_text=True)
    with app.extensions["open311"].db.write() as session, session.begin():
        set_password(session, "cy@housing.example", password)  # an operator's reset lifts it
    assert sign_in(client, "cy@housing.example", password).status_code == 302


def test_unknown_and_wrong_get_the_same_answer(app: Any) -> None:
    make_staff(app, "di@housing.example")
    client = app.test_client()
    unknown = sign_in(client, "nobody@housing.example", "whatever password")
    wrong = sign_in(client, "di@housing.example", "whatever password")
    assert unknown.status_code == wrong.status_code == 401
    assert "do not match an account" in unknown.get_data(as_text=True)
    assert "do not match an account" in wrong.get_data(as_text=True)


def test_a_reset_or_a_disable_ends_sessions_already_open(app: Any) -> None:
    client = app.test_client()
    password = make_staff(app, "ed@housing.example")
    assert sign_in(client, "ed@housing.example", password).status_code == 302
    assert client.get("/staff/queue").status_code == 200
    db = app.extensions["open311"].db
    with db.write() as session, session.begin():
        set_password(session, "ed@housing.example")
    assert client.get("/staff/queue").status_code == 302  # back to sign-in
    new = app.test_client()
    with db.write() as session, session.begin():
        fresh = set_password(session, "ed@housing.example")
    assert sign_in(new, "ed@housing.example", fresh).status_code == 302
    with db.write() as session, session.begin():
        assert disable_user(session, "ed@housing.example")
    assert new.get("/staff/queue").status_code == 302
    assert sign_in(new, "ed@housing.example", fresh).status_code == 401


def test_one_address_may_only_try_so_many_sign_ins_across_accounts(app: Any) -> None:
    client = app.test_client()
    answers = [
        sign_in(client, f"guess{i}@housing.example", "a guessed password").status_code
        for i in range(11)
    ]
    assert answers == [401] * 10 + [429]  # the demo's default: 10 per minute
