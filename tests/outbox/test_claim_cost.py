"""A worker's claim reads the backlog, never the history: its cost stays the same however
many deliveries were done before (revision 0011, ix_delivery_open). On SQLite a claim holds
the write lock, so a claim that walked a destination's every delivery made every POST wait:
at 1,000,000 delivered reports the bench's SQLite POSTs fell from 285 to 56 a second.

SQLite's measure is the virtual machine's steps for the claim (its progress handler,
called every 100); PostgreSQL's is the delivery rows its plan reads (EXPLAIN ANALYZE)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import event, text

from open311.db import utcnow
from open311.outbox import Outbox
from open311.synthetic import SeedPlan, seed
from tests.helpers import post_request

HISTORY = 2_000  # delivered reports before the first claim; as many again before the second
STEP = 100


def _claim_rows_read(database: Any, outbox: Outbox) -> int:
    """PostgreSQL: the delivery rows the claim's plan reads (the claim is rolled back)."""
    statement = outbox._due("works", utcnow(), 20)
    sql = str(statement.compile(database.engine, compile_kwargs={"literal_binds": True}))
    with database.write() as session, session.begin():
        raw = session.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")).scalar_one()
        session.rollback()
    plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]

    def read(node: dict[str, Any]) -> int:
        own = 0
        if node.get("Relation Name") == "delivery" and node.get("Node Type") != "ModifyTable":
            own = node["Actual Rows"] * node.get("Actual Loops", 1)
            own += node.get("Rows Removed by Filter", 0) * node.get("Actual Loops", 1)
        return own + sum(read(child) for child in node.get("Plans", []))

    return read(plan)


def _history(app: Any, rng_seed: int) -> None:
    gw = app.extensions["open311"]
    seed(gw.db, gw.catalog, gw.router, SeedPlan(HISTORY, years=1.0, rng_seed=rng_seed))


def test_a_claim_costs_the_same_after_thousands_of_deliveries(
    app: Any, client: Any, database: Any, outbox: Outbox, submit_key: str, db_url: str, fmt: str
) -> None:
    postgresql = db_url.startswith("postgresql")
    costs = []
    for round_ in range(2):
        _history(app, rng_seed=round_)
        for _ in range(3):
            post_request(client, fmt, submit_key)
        if postgresql:
            with database.write() as session, session.begin():
                session.execute(text("ANALYZE delivery"))
            costs.append(_claim_rows_read(database, outbox))
            claimed = outbox.claim()
        else:
            with _counting(database) as counted:
                claimed = outbox.claim()
            costs.append(counted[0])
        assert len(claimed["works"]) == 3, claimed
        for ids in claimed.values():
            outbox.deliver_batch(ids)
    first, second = costs
    # Twice the history, the same work: a claim that walked the history would cost about
    # twice as much the second time (and thousands of steps or rows, not tens).
    assert second <= first * 1.25 + 5, costs
    assert second < HISTORY / 10, costs


class _counting:
    """SQLite's VM steps (in hundreds) of the statements run inside the block."""

    def __init__(self, database: Any) -> None:
        self.engine = database.engine
        self.counted = [0]

    def _tick(self) -> int:
        self.counted[0] += 1
        return 0  # go on

    def _hook(self, conn: Any, *_: Any) -> None:
        conn.connection.dbapi_connection.set_progress_handler(self._tick, STEP)

    def __enter__(self) -> list[int]:
        event.listen(self.engine, "before_cursor_execute", self._hook)
        return self.counted

    def __exit__(self, *_: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._hook)
