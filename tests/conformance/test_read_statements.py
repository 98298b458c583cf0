"""The public reads are one statement each, in its own transaction (Database.one_statement):
no BEGIN or COMMIT around a GET by id or a public page, on SQLite as in PostgreSQL's
autocommit. The key lookup before a POST is the same."""

from __future__ import annotations

from typing import Any

from tests.helpers import parse, post_request

from .conftest import api
from .test_create_storage import statements


def _report(client: Any, fmt: str, key: str) -> str:
    answer = post_request(client, fmt, key)
    assert answer.status_code == 200, answer.data
    return str(parse(answer, fmt)[0]["service_request_id"])


def test_a_public_read_is_one_statement(
    client: Any, submit_key: str, fmt: str, database: Any
) -> None:
    rid = _report(client, fmt, submit_key)
    with statements(database) as one:
        found = client.get(api(f"requests/{rid}.{fmt}"))
    assert found.status_code == 200, found.data
    assert parse(found, fmt)[0]["service_request_id"] == rid
    with statements(database) as page:
        listed = client.get(api(f"requests.{fmt}?service_code=POTHOLE"))
    assert listed.status_code == 200, listed.data
    assert rid in [r["service_request_id"] for r in parse(listed, fmt)]
    assert one == ["SELECT"]
    assert page == ["SELECT"]


def test_the_key_lookup_before_a_post_has_no_transaction_of_its_own(
    client: Any, submit_key: str, fmt: str, database: Any
) -> None:
    with statements(database) as seen:
        _report(client, fmt, submit_key)
    if database.dialect == "sqlite":
        # The lookup, then the report's one write transaction (BEGIN IMMEDIATE; its
        # COMMIT is the driver's, not a statement).
        assert seen[:2] == ["SELECT", "BEGIN"]
        assert seen.count("BEGIN") == 1
    else:
        assert seen[:2] == ["SELECT", "WITH"]
