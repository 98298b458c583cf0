"""The monitoring queries of docs/deployment.md give the right answer on a PostgreSQL
server whose time zone is not UTC (the gateway stores naive UTC times)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update

from open311.db import utcnow
from open311.models import Delivery, DestinationState
from tests.helpers import post_request

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


def query(row: str) -> str:
    """The SQL in backquotes on the monitoring table's row named `row`."""
    line = next(
        x for x in DOCS.read_text(encoding="utf-8").splitlines() if x.startswith(f"| {row} |")
    )
    found = re.search(r"`(SELECT [^`]+)`", line)
    assert found, line
    return found.group(1)


def test_paused_and_stuck_are_right_in_new_york(
    db_url: str, client: Any, database: Any, submit_key: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the queries are PostgreSQL's (docs give the SQLite forms)")
    assert post_request(client, "json", submit_key).status_code == 200
    now = utcnow().replace(tzinfo=None)
    with database.write() as session, session.begin():
        session.add_all(
            [
                DestinationState(destination="ended", paused_until=now - timedelta(hours=2)),
                DestinationState(destination="paused", paused_until=now + timedelta(hours=2)),
            ]
        )
        session.execute(
            update(Delivery).values(state="inflight", lease_until=now - timedelta(minutes=30))
        )
    with database.engine.connect() as conn:
        conn.execute(text("SET TIME ZONE 'America/New_York'"))  # UTC-5 or UTC-4
        paused = {row[0] for row in conn.execute(text(query("Paused agencies")))}
        stuck = conn.execute(text(query("Stuck leases"))).scalar()
    assert paused == {"paused"}
    assert stuck == 1
