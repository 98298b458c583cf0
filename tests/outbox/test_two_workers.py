"""Two worker processes share one queue: 1,000 reports, none delivered twice, none left."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from sqlalchemy import func, select

from open311.models import Delivery
from open311.routing import Destination
from open311.store import NewReport, create_request
from tests.support.plugin import DELIVERY_CONFIG

REPORTS = 1000


def test_two_workers_deliver_each_report_exactly_once(app, backend, db_url):
    gateway = app.extensions["open311"]
    service = gateway.catalog.service("testcity.gov", "POTHOLE")
    with gateway.db.write() as session, session.begin():
        for i in range(REPORTS):
            create_request(
                session,
                NewReport(
                    service=service,
                    prefix="TC-",
                    fields={"address_string": f"{i} Queue St"},
                    attributes={},
                    contact={},
                    destinations=[Destination("works", True)],
                ),
            )
    env = {
        **os.environ,
        "OPEN311_DATABASE_URL": db_url,
        "OPEN311_CONFIG": str(DELIVERY_CONFIG),
        "TEST_BACKEND_URL": backend.url,
    }
    command = [sys.executable, "-m", "open311.cli", "worker", "--once", "--batch", "20"]
    # Their logs go to files: a pipe read one worker after the other fills up and blocks
    # the second worker in mid-transaction (one log line per delivery and status change).
    with tempfile.TemporaryFile("w+") as one, tempfile.TemporaryFile("w+") as two:
        workers = [subprocess.Popen(command, env=env, stderr=f, text=True) for f in (one, two)]
        for worker in workers:
            worker.wait(timeout=300)
        outputs = []
        for log in (one, two):
            log.seek(0)
            outputs.append(log.read())
    assert [w.returncode for w in workers] == [0, 0], "\n".join(outputs)
    delivered = [int(out.rsplit("delivered ", 1)[1].split(";")[0]) for out in outputs]
    assert sum(delivered) == REPORTS, outputs
    assert all(n > 0 for n in delivered), delivered  # both really worked the queue

    counts = backend.by_key_counts
    assert len(counts) == REPORTS
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1][:5]
    with gateway.db.read() as session:
        states = dict(
            session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
        )
    assert states == {"done": REPORTS}
