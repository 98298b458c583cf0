"""What a POST stores (open311/store.py `accept`): every row the report needs, written
without the ORM, and on PostgreSQL in one statement. The stored public answer is rendered
before the public number is known there, so it must come out with the final id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from open311.fragments import rendered
from open311.models import ServiceRequest, Submission
from schemas.personal import Contact
from tests.helpers import NEW_HAVEN_GREEN, parse

from .conftest import api

PERSONAL = {"email": "stored.once@example.org", "phone": "+1-203-555-0142"}
# As stored: the phone in E.164 (open311/contact.py).
STORED = {**PERSONAL, "phone": "+12035550142"}


@contextmanager
def statements(database: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.lstrip().split(None, 1)[0].upper())

    for engine in database.engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in database.engines:
            event.remove(engine, "before_cursor_execute", note)


def _post(client: Any, fmt: str, key: str, retry_key: str, **fields: Any) -> Any:
    data = {"api_key": key, "lat": NEW_HAVEN_GREEN[0], "long": NEW_HAVEN_GREEN[1], **fields}
    return client.post(api(f"requests.{fmt}"), data=data, headers={"Idempotency-Key": retry_key})


def _stored(database: Any, **where: Any) -> tuple[ServiceRequest, list[Any], Any, Any]:
    """The row, its deliveries, its contact and its submission, after checking that the
    stored public answer is what rendering the stored row makes (with the final id)."""
    with database.read() as session:
        row = session.scalars(select(ServiceRequest).filter_by(**where)).one()
        assert {"public_json": row.public_json, "public_xml": row.public_xml} == rendered(row)
        assert row.public_id in (row.public_json or "")
        assert row.public_id in (row.public_xml or "")
        submission = session.scalars(
            select(Submission).where(Submission.request_id == row.id)
        ).one()
        deliveries = [
            (d.destination, d.primary, d.idempotency_key, d.state) for d in row.deliveries
        ]
        contact = row.contact.as_contact() if row.contact is not None else None
        return row, deliveries, contact, submission


def test_public_report_rows_and_one_statement(
    client: Any, submit_key: str, fmt: str, database: Any
) -> None:
    for n in range(2):  # the first report of a prefix makes its counter; the second uses it
        answer = _post(
            client, fmt, submit_key, f"k-{n}", service_code="POTHOLE", description="Deep"
        )
        assert answer.status_code == 200, answer.data
        rid = parse(answer, fmt)[0]["service_request_id"]
        row, deliveries, contact, submission = _stored(database, public_id=rid)
        assert deliveries and all(
            key == f"{rid}:{agency}" and state == "pending" for agency, _, key, state in deliveries
        )
        assert [d[1] for d in deliveries].count(True) == 1
        assert contact is None  # POTHOLE was sent without personal fields
        assert submission.key == f"k-{n}"
    again = _post(client, fmt, submit_key, "k-1", service_code="POTHOLE", description="Deep")
    assert parse(again, fmt)[0]["service_request_id"] == rid  # the retry: the first answer
    with statements(database) as seen:
        plain = client.post(
            api(f"requests.{fmt}"),
            data={"api_key": submit_key, "service_code": "POTHOLE", "address_string": "1 Elm St"},
        )
    assert plain.status_code == 200, plain.data
    if database.dialect == "postgresql":
        # The key lookup, then the report in one statement (in autocommit: no BEGIN and no
        # COMMIT either). An Idempotency-Key adds the lookup of an earlier submission.
        assert seen == ["SELECT", "WITH"]


def test_batch_report_keeps_its_contact_and_token(
    client: Any, submit_key: str, fmt: str, database: Any
) -> None:
    answer = _post(
        client, fmt, submit_key, "z-1", service_code="ZONING", address_string="1 Elm St", **PERSONAL
    )
    assert answer.status_code == 200, answer.data
    token = parse(answer, fmt)[0]["token"]
    row, deliveries, contact, _ = _stored(database, token=token)
    assert contact == Contact(**STORED)
    assert row.public_id and all(key == f"{row.public_id}:{a}" for a, _, key, _ in deliveries)


def test_private_report_has_a_random_id_and_no_number(
    client: Any, submit_key: str, fmt: str, database: Any
) -> None:
    before = _post(client, fmt, submit_key, "p-0", service_code="POTHOLE", description="x")
    first = int(parse(before, fmt)[0]["service_request_id"].rsplit("-", 1)[1])
    answer = _post(
        client,
        fmt,
        submit_key,
        "p-1",
        service_code="NEIGHBOR_COMPLAINT",
        description="Loud",
        **PERSONAL,
    )
    assert answer.status_code == 200, answer.data
    rid = parse(answer, fmt)[0]["service_request_id"]
    row, deliveries, contact, _ = _stored(database, public_id=rid)
    assert row.private and contact == Contact(**STORED)
    assert deliveries and all(key == f"{rid}:{a}" for a, _, key, _ in deliveries)
    after = _post(client, fmt, submit_key, "p-2", service_code="POTHOLE", description="y")
    # Public numbers have no gap where the private report came in.
    assert int(parse(after, fmt)[0]["service_request_id"].rsplit("-", 1)[1]) == first + 1
