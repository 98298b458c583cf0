"""The queue's answers by every way it counts, and its daily view's cost: an agency's open
reports, newest first, cost what is open, however long the closed history behind them
(revision 0013: at 1,000,000 reports an inbox agency's page took 600 ms, 45 ms after)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from open311 import queue
from open311.db import utcnow
from open311.models import ServiceRequest
from open311.synthetic import SeedPlan, seed
from tests.support.sqlite_steps import sqlite_steps
from tests.support.work import rows_read

from .conftest import HOUSING, PUBLIC_WORKS, file_report

HISTORY = 2_000  # closed reports before the first measure; as many again before the second


def _find(app: Any, **asked: Any) -> tuple[list[str], int]:
    gw = app.extensions["open311"]
    with gw.db.read() as session:
        rows, total = queue.find_queue(session, gw.router, queue.QueueQuery(**asked))
        return [r.public_id for r in rows], total


def _close(app: Any, *public_ids: str) -> None:
    with app.extensions["open311"].db.write() as session, session.begin():
        session.execute(
            update(ServiceRequest)
            .where(ServiceRequest.public_id.in_(public_ids))
            .values(status="closed")
        )


def test_every_view_counts_its_own_reports_once(app: Any, client: Any, submit_key: str) -> None:
    lease = file_report(client, submit_key, "LEASE_VIOLATION")
    neighbour = file_report(client, submit_key, "NEIGHBOR_COMPLAINT")
    leak = file_report(client, submit_key, "LEASE_VIOLATION")
    file_report(client, submit_key, "POTHOLE")  # public works': in no count here
    _close(app, lease)
    assert _find(app, agency=HOUSING) == ([leak, neighbour], 2)
    assert _find(app, agency=HOUSING, status="closed") == ([lease], 1)
    assert _find(app, agency=HOUSING, status="all") == ([leak, neighbour, lease], 3)
    assert _find(app, agency=HOUSING, status="all", service_code="LEASE_VIOLATION") == (
        [leak, lease],
        2,
    )
    assert _find(app, agency=HOUSING, status="closed", service_code="NEIGHBOR_COMPLAINT") == (
        [],
        0,
    )
    assert _find(app, agency=HOUSING, status="closed", claimed="unclaimed") == ([lease], 1)
    assert _find(app, agency=PUBLIC_WORKS, status="all")[1] == 1


def test_the_open_queue_costs_the_same_with_twice_the_closed_history(
    app: Any, client: Any, submit_key: str, database: Any, db_url: str
) -> None:
    gw = app.extensions["open311"]
    mine = [file_report(client, submit_key, "LEASE_VIOLATION") for _ in range(3)]
    asked = queue.QueueQuery(agency=HOUSING, page_size=3)
    costs = []
    for round_ in range(2):
        seed(gw.db, gw.catalog, gw.router, SeedPlan(HISTORY, years=1.0, rng_seed=round_))
        with database.write() as session, session.begin():
            session.execute(
                update(ServiceRequest)
                .where(ServiceRequest.public_id.not_in(mine))
                .values(status="closed")
            )
        with database.read() as session:
            if db_url.startswith("postgresql"):
                # The page and the count: the report rows their plans read.
                matching = queue.agency_reports(asked, utcnow())
                statements = [
                    matching.order_by(*queue.SORTS["newest"]).limit(3),
                    select(func.count()).select_from(matching.subquery()),
                ]
                cost = sum(rows_read(database, s, "service_request") for s in statements)
                rows, total = queue.find_queue(session, gw.router, asked)
            else:
                with sqlite_steps(database.engine) as counted:
                    rows, total = queue.find_queue(session, gw.router, asked)
                cost = counted[0]
        costs.append(cost)
        assert sorted(r.public_id for r in rows) == sorted(mine)
        assert total == 3
    first, second = costs
    # Twice the history, the same work: a read that walks it costs about twice as much.
    assert second <= first * 1.25 + 5, costs
    assert second < HISTORY / 10, costs
