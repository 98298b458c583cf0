"""Work done in one statement (a public read, a new report) takes its PostgreSQL
connection from a pool whose connections were made in autocommit, as they are: no switch
to autocommit and back on every checkout (Database.one_statement), and no transaction
left open behind it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.conformance.conftest import api, new_id
from tests.helpers import parse


def _levels_set(database: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every isolation level the dialects are asked to set from now on."""
    seen: list[str] = []
    for engine in database.engines:
        dialect = engine.dialect
        original = dialect.set_isolation_level

        def spy(dbapi_connection: Any, level: str, original: Any = original) -> None:
            seen.append(level)
            original(dbapi_connection, level)

        monkeypatch.setattr(dialect, "set_isolation_level", spy)
    return seen


def test_public_reads_take_autocommit_connections_as_they_are(
    client: Any, database: Any, submit_key: str, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("SQLite's driver is in autocommit already (db._sqlite_pragmas)")
    rid = new_id(client, fmt, submit_key)
    # Connections exist in both pools now: what follows only checks them out.
    assert client.get(api(f"requests/{rid}.{fmt}")).status_code == 200
    switched = _levels_set(database, monkeypatch)
    for _ in range(3):
        one = client.get(api(f"requests/{rid}.{fmt}"))
        assert one.status_code == 200, one.data
        assert parse(one, fmt)[0]["service_request_id"] == rid
        page = client.get(api(f"requests.{fmt}?service_code=POTHOLE"))
        assert page.status_code == 200, page.data
        assert rid in [r["service_request_id"] for r in parse(page, fmt)]
    assert switched == []
    with database.one_statement() as conn:
        assert conn.connection.dbapi_connection.autocommit is True
        # No connection of this database is left inside a transaction by the reads.
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'"
            )
        ).scalar_one()
    assert waiting == 0
