"""Retention: `open311 purge-personal-data --older-than DAYS` erases the reporter's contact
on reports closed longer ago than the window, and only there; the public record stays.
`--dry-run` counts and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from open311.cli import main
from open311.db import utcnow
from open311.models import ServiceRequest
from tests.conftest import make_key
from tests.helpers import parse

from .common import API, PERSONAL, STORED, created
from .test_contact_rules import contacts


def report(client: Any, key: str, code: str = "POTHOLE") -> str:
    answer = created(client, key, code, description="Hole by the library", **PERSONAL)
    return answer.get("service_request_id") or ""


def age(app: Any, rid: str, status: str, days: float) -> None:
    """As if the report's last change (its closing, say) was `days` ago."""
    with app.extensions["open311"].db.write() as session, session.begin():
        row = session.scalar(select(ServiceRequest).where(ServiceRequest.public_id == rid))
        assert row is not None
        row.status = status
        row.updated_datetime = utcnow() - timedelta(days=days)


def purge(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(
        main, ["purge-personal-data", *args], env={"OPEN311_DATABASE_URL": db_url}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_purge_erases_only_contacts_of_reports_closed_before_the_window(
    client: Any, app: Any, db_url: str
) -> None:
    key = make_key(app, "resident-app")
    old_closed = [report(client, key), report(client, key)]
    recent_closed, old_open, untouched = (
        report(client, key),
        report(client, key),
        report(client, key),
    )
    for rid, days in zip(old_closed, (40, 31), strict=True):
        age(app, rid, "closed", days)
    age(app, recent_closed, "closed", 5)
    age(app, old_open, "open", 400)  # open: still being worked, whatever its age
    report(client, key, "GRAFFITI")  # anonymous: nothing to erase
    with app.extensions["open311"].db.write() as session, session.begin():
        graffiti = session.scalar(
            select(ServiceRequest).where(ServiceRequest.service_code == "GRAFFITI")
        )
        assert graffiti is not None
        graffiti.status, graffiti.updated_datetime = "closed", utcnow() - timedelta(days=90)

    before = contacts(app)
    assert set(before) == {*old_closed, recent_closed, old_open, untouched}
    public_before = {
        rid: client.get(f"{API}/requests/{rid}.json").data for rid in [*old_closed, old_open]
    }

    out = purge(db_url, "--older-than", "30", "--dry-run")
    assert out.startswith("2 reports closed more than 30 days ago hold personal data"), out
    assert "dry run" in out
    assert contacts(app) == before

    out = purge(db_url, "--older-than", "30")
    assert out.startswith("erased personal data from 2 reports"), out
    after = contacts(app)
    assert set(after) == {recent_closed, old_open, untouched}
    assert all(after[rid] == STORED for rid in after)
    # The public record is exactly as it was.
    for rid, body in public_before.items():
        assert client.get(f"{API}/requests/{rid}.json").data == body
    # Staff see that the reporter is gone; the report itself is still theirs to read.
    admin = make_key(app, "root", "admin")
    [row] = parse(
        client.get(
            f"{API}/requests/{old_closed[0]}.json",
            query_string={"extensions": "true"},
            headers={"X-API-Key": admin},
        ),
        "json",
    )
    assert row["reporter"] is None and row["status"] == "closed"

    assert purge(db_url, "--older-than", "30").startswith("erased personal data from 0 reports")
    # A shorter window reaches the recently closed report, never the open one.
    assert purge(db_url, "--older-than", "1", "--dry-run").startswith("1 reports")
    assert purge(db_url, "--older-than", "0").startswith("erased personal data from 1 reports")
    assert set(contacts(app)) == {old_open, untouched}


def test_purge_needs_a_window(app: Any, db_url: str) -> None:
    runner = CliRunner()
    env = {"OPEN311_DATABASE_URL": db_url}
    assert runner.invoke(main, ["purge-personal-data"], env=env).exit_code == 2
    bad = runner.invoke(main, ["purge-personal-data", "--older-than", "-1"], env=env)
    assert bad.exit_code == 2
