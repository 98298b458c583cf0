"""What one delivery costs the database, counted: the worker's CPU goes mostly into
SQLAlchemy's work per statement (about 0.3-1 ms each), so a statement more on every
delivery shows at once in how many reports a worker delivers a second."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from open311.delivery import build_adapters
from open311.outbox import DONE, Outbox

# Starting the call: the delivery with its report and contact, the destination's pause.
# Recording it: the acknowledgement, the breaker, the report with its contact, whether
# staff acted on it already, the receipt in the history, the report's new status.
STATEMENTS = ["SELECT", "SELECT", "UPDATE", "SELECT", "SELECT", "SELECT", "INSERT", "UPDATE"]


def test_a_delivery_and_its_receipt_take_eight_statements(client, submit_key, app, backend):
    gateway = app.extensions["open311"]
    r = client.post(
        "/open311/v2/requests.json",
        data={"service_code": "POTHOLE", "address_string": "1 Elm", "api_key": submit_key},
    )
    assert r.status_code == 200
    outbox = Outbox(gateway.db, gateway.catalog, build_adapters(gateway.catalog), owner="a")
    seen: list[str] = []

    def counted(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.lstrip().split(None, 1)[0].upper())

    try:
        [[row]] = outbox.claim().values()
        event.listen(gateway.db.engine, "before_cursor_execute", counted)
        try:
            assert outbox.deliver(row) == DONE
        finally:
            event.remove(gateway.db.engine, "before_cursor_execute", counted)
    finally:
        outbox.close()
    # BEGIN IMMEDIATE (SQLite's writer) is a statement of its own there.
    assert [s for s in seen if s not in ("BEGIN", "COMMIT")] == STATEMENTS
