"""Keys and roles on the GeoReport endpoints: a staff key sees its own agency's private
reports (and, with extensions=true, the reporter of its own agency's reports); another
agency's staff key and another app's submit key see only the public record (the key that
filed a private report follows it: test_following.py); an admin key sees all.
Every staff read of a private report or of personal fields is in the audit log, which
`open311 audit` lists."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from open311.cli import main
from open311.models import AuditEntry
from tests.conftest import make_key
from tests.helpers import parse

from .common import API, EMAIL, PERSONAL, PRIVATE_LEASE, PRIVATE_NEIGHBOUR, STORED
from .conftest import Scenario


def get(client: Any, path: str, key: str | None, **params: str) -> Any:
    headers = {"X-API-Key": key} if key else {}
    return client.get(f"{API}/{path}", query_string=params, headers=headers)


def listed(client: Any, fmt: str, key: str | None, **params: str) -> dict[str, dict[str, Any]]:
    r = get(client, f"requests.{fmt}", key, **params)
    assert r.status_code == 200, r.data
    return {row["service_request_id"]: row for row in parse(r, fmt)}


def audit_rows(app: Any) -> list[tuple[str, str | None, str, str | None]]:
    with app.extensions["open311"].db.read() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert all(row.at is not None for row in rows)
    return [(r.key_name, r.agency, r.action, r.request_public_id) for r in rows]


def test_housing_staff_see_their_private_reports_and_reporters(
    client: Any, scenario: Scenario, fmt: str
) -> None:
    s, key = scenario, scenario.housing_staff
    rows = listed(client, fmt, key)
    assert set(s.private_ids) | set(s.public_ids) <= set(rows)
    assert rows[s.private_ids[0]]["description"] == PRIVATE_NEIGHBOUR
    assert "reporter" not in rows[s.private_ids[0]]  # personal fields only on request
    by_id = listed(client, fmt, key, service_request_id=",".join(s.private_ids))
    assert set(by_id) == set(s.private_ids)
    by_code = listed(client, fmt, key, service_code="LEASE_VIOLATION")
    assert [row["description"] for row in by_code.values()] == [PRIVATE_LEASE]

    r = get(client, f"requests/{s.private_ids[1]}.{fmt}", key)
    assert r.status_code == 200, r.data
    assert parse(r, fmt)[0]["description"] == PRIVATE_LEASE

    extended = listed(client, fmt, key, extensions="true")
    for rid in s.private_ids:
        assert extended[rid]["reporter"]["email"] == EMAIL
        assert extended[rid]["reporter"]["last_name"] == PERSONAL["last_name"]
    # Public works' potholes are public, but their reporters are not the housing
    # authority's business.
    assert all("reporter" not in extended[rid] for rid in s.public_ids)
    [one] = parse(get(client, f"requests/{s.private_ids[0]}.{fmt}", key, extensions="true"), fmt)
    assert one["reporter"]["phone"] == STORED["phone"]


def test_another_agencys_staff_see_only_the_public_record_and_their_own_reporters(
    client: Any, app: Any, scenario: Scenario, fmt: str
) -> None:
    s = scenario
    key = make_key(app, "zoning-clerk", "staff", "nhv-zoning")
    rows = listed(client, fmt, key, extensions="true")
    assert not set(s.private_ids) & set(rows)
    assert listed(client, fmt, key, service_request_id=",".join(s.private_ids)) == {}
    assert listed(client, fmt, key, service_code="NEIGHBOR_COMPLAINT,LEASE_VIOLATION") == {}
    unknown = get(client, f"requests/NHV-999999.{fmt}", key)
    for rid in s.private_ids:
        r = get(client, f"requests/{rid}.{fmt}", key)
        assert (r.status_code, r.data) == (404, unknown.data)
    # Their own (public) zoning complaints carry the reporter; public works' do not.
    assert rows[s.zoning_ids[0]]["reporter"]["email"] == EMAIL
    assert all("reporter" not in rows[rid] for rid in s.public_ids)


def test_other_apps_submit_keys_see_only_the_public_record(
    client: Any, app: Any, scenario: Scenario, fmt: str
) -> None:
    # The key that filed the private reports follows them (tests/privacy/test_following.py).
    s, key = scenario, make_key(app, "another-app")
    rows = listed(client, fmt, key, extensions="true")
    assert set(s.public_ids + s.zoning_ids) <= set(rows)
    assert not set(s.private_ids) & set(rows)
    assert all("reporter" not in row and "private" not in row for row in rows.values())
    for rid in s.private_ids:
        assert get(client, f"requests/{rid}.{fmt}", key).status_code == 404


def test_admin_sees_everything(client: Any, app: Any, scenario: Scenario, fmt: str) -> None:
    s = scenario
    key = make_key(app, "root", "admin")
    rows = listed(client, fmt, key, extensions="true")
    assert set(s.all_ids) <= set(rows)
    for rid in s.public_ids + s.private_ids:
        assert rows[rid]["reporter"]["email"] == EMAIL
    r = get(client, f"requests/{s.private_ids[0]}.{fmt}", key)
    assert parse(r, fmt)[0]["description"] == PRIVATE_NEIGHBOUR


def test_every_staff_read_of_private_or_personal_data_is_audited(
    client: Any, app: Any, scenario: Scenario
) -> None:
    s = scenario
    before = audit_rows(app)
    # The scenario's own staff work is there already.
    assert ("ha-clerk", "nhv-housing-authority", "staff.claim", s.private_ids[0]) in before
    assert ("ha-clerk", "nhv-housing-authority", "staff.status", s.private_ids[1]) in before
    zoning = make_key(app, "zoning-clerk", "staff", "nhv-zoning")
    admin = make_key(app, "root", "admin")

    listed(client, "json", s.housing_staff)  # private reports
    get(client, f"requests/{s.private_ids[1]}.xml", s.housing_staff)
    listed(client, "json", zoning)  # public reports, no personal fields: nothing to audit
    listed(client, "xml", zoning, extensions="true")  # its reporters
    listed(client, "json", s.submit_key, extensions="true")  # public only: nothing
    listed(client, "json", None, extensions="true")
    get(client, f"requests/{s.public_ids[0]}.json", admin, extensions="true")
    get(client, "staff/requests.json", s.housing_staff, status="all")

    new = audit_rows(app)[len(before) :]
    housing = ("ha-clerk", "nhv-housing-authority")
    assert sorted(new) == sorted(
        [
            *[(*housing, "georeport.requests", rid) for rid in s.private_ids],
            (*housing, "georeport.request", s.private_ids[1]),
            *[("zoning-clerk", "nhv-zoning", "georeport.requests", rid) for rid in s.zoning_ids],
            ("root", None, "georeport.request", s.public_ids[0]),
            *[(*housing, "staff.list", rid) for rid in s.private_ids],
        ]
    )


def test_open311_audit_lists_the_reads(
    client: Any, app: Any, scenario: Scenario, db_url: str
) -> None:
    s = scenario
    get(client, f"requests/{s.private_ids[0]}.json", s.housing_staff, extensions="true")
    runner = CliRunner()
    env = {"OPEN311_DATABASE_URL": db_url}

    result = runner.invoke(main, ["audit", "--json"], env=env)
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    expected = {(a[0], a[2], a[3]) for a in audit_rows(app)}
    assert {(e["key_name"], e["action"], e["request_id"]) for e in entries} == expected
    assert entries[0]["action"] == "georeport.request"  # newest first
    assert entries[0]["request_id"] == s.private_ids[0]
    assert entries[0]["agency"] == "nhv-housing-authority"
    assert all(e["at"].endswith("Z") for e in entries)

    result = runner.invoke(main, ["audit", "--json", "--request", s.private_ids[0]], env=env)
    only = json.loads(result.stdout)
    assert only and {e["request_id"] for e in only} == {s.private_ids[0]}
    assert {e["action"] for e in only} == {"staff.claim", "staff.status", "georeport.request"}

    text = runner.invoke(main, ["audit", "--request", s.private_ids[0]], env=env)
    assert (
        text.exit_code == 0 and "ha-clerk\tnhv-housing-authority\tgeoreport.request" in text.stdout
    )
    # The audit log says who read what, never what they read.
    assert EMAIL not in result.stdout + text.stdout
