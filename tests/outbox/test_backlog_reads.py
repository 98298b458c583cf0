"""What the delivery worker reads over and over costs what is waiting, never the history
(revision 0011): the same work however many reports were delivered and closed before.

- A claim reads the undelivered rows (ix_delivery_open). On SQLite a claim holds the write
  lock, so a claim that walked a destination's every delivery made every POST wait: at
  1,000,000 delivered reports the bench's POSTs went from 85-96 to 163 a second here.
- A status sync round reads the deliveries of the reports still followed (open, or closed
  within 30 days; ix_request_open_requested): it read every done delivery before, 33 s a round at
  1,000,000 reports on SQLite, 0.36 s after.

SQLite's measure is its virtual machine's steps (the progress handler, called every 100);
PostgreSQL's is the delivery rows the plan reads (EXPLAIN ANALYZE)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, update

from open311.db import utcnow
from open311.models import ServiceRequest
from open311.outbox import Outbox
from open311.sync import followed_deliveries, references
from open311.synthetic import SeedPlan, seed
from tests.helpers import post_request
from tests.support.work import work_of

HISTORY = 2_000  # reports before the first measure; as many again before the second


def _history(app: Any, rng_seed: int) -> None:
    gw = app.extensions["open311"]
    seed(gw.db, gw.catalog, gw.router, SeedPlan(HISTORY, years=1.0, rng_seed=rng_seed))


def _same_work(costs: list[int]) -> None:
    first, second = costs
    # Twice the history, the same work: a read that walked the history costs about twice
    # as much the second time (and thousands of steps or rows, not tens).
    assert second <= first * 1.25 + 5, costs
    assert second < HISTORY / 10, costs


def test_a_claim_costs_the_same_after_thousands_of_deliveries(
    app: Any, client: Any, database: Any, outbox: Outbox, submit_key: str, db_url: str, fmt: str
) -> None:
    costs = []
    for round_ in range(2):
        _history(app, rng_seed=round_)
        for _ in range(3):
            post_request(client, fmt, submit_key)
        due = outbox._due("works", utcnow(), outbox.policy.batch_size)
        cost, claimed = work_of(database, db_url, due, outbox.claim, table="delivery")
        costs.append(cost)
        assert len(claimed["works"]) == 3, claimed
        for ids in claimed.values():
            outbox.deliver_batch(ids)
    _same_work(costs)


def test_a_status_round_reads_the_followed_reports_not_the_closed_history(
    app: Any, client: Any, database: Any, outbox: Outbox, submit_key: str, db_url: str, fmt: str
) -> None:
    followed = []
    for _ in range(3):
        post_request(client, fmt, submit_key)
    outbox.drain()
    with database.read() as session:
        followed = list(session.scalars(select(ServiceRequest.id)))
    costs = []
    for round_ in range(2):
        _history(app, rng_seed=round_)
        with database.write() as session, session.begin():
            # History: closed long ago, so no longer followed.
            session.execute(
                update(ServiceRequest)
                .where(ServiceRequest.id.not_in(followed))
                .values(status="closed", updated_datetime=utcnow() - timedelta(days=400))
            )
        now = utcnow()
        with database.read() as session:
            cost, refs = work_of(
                database,
                db_url,
                followed_deliveries(now),
                partial(references, session, "works", now),
                table="delivery",
            )
        costs.append(cost)
        assert len(refs) == 3, refs  # the back-end's ids of the three open reports
    _same_work(costs)
