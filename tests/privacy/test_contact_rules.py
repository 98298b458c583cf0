"""Per-service contact rules: anonymous drops personal fields before anything is stored,
optional keeps what is given, required refuses a report without the named fields. The rule
is shown to app developers in the service definition (extensions=true)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from open311 import create_app
from open311.db import Base
from open311.models import ReporterContact, ServiceRequest, Submission
from tests.conftest import make_key
from tests.helpers import errors, parse, text

from .common import API, EMAIL, FORBIDDEN, PERSONAL, PHONE, STORED, created, deliver_all, post

SMALL_CONFIG = Path(__file__).parent / "gateway.yaml"


def contacts(app: Any) -> dict[str, dict[str, str | None]]:
    """public_id -> the stored reporter_contact row, read straight from the table."""
    with app.extensions["open311"].db.read() as session:
        rows = session.execute(
            select(ServiceRequest.public_id, ReporterContact).join(
                ReporterContact, ReporterContact.request_id == ServiceRequest.id
            )
        ).all()
    return {rid: {name: getattr(c, name) for name in PERSONAL} for rid, c in rows}


def every_stored_value(app: Any) -> str:
    """Every row of every table, as text: what the database holds, wherever it is."""
    with app.extensions["open311"].db.read() as session:
        return "\n".join(
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in session.execute(table.select())
        )


def ids_of(app: Any, code: str) -> list[str]:
    with app.extensions["open311"].db.read() as session:
        return list(
            session.scalars(
                select(ServiceRequest.public_id)
                .where(ServiceRequest.service_code == code)
                .order_by(ServiceRequest.id)
            )
        )


def test_anonymous_drops_personal_fields_and_never_stores_them(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    answer = created(client, submit_key, "GRAFFITI", fmt, description="Tag on a wall", **PERSONAL)
    assert answer.get("account_id") is None  # not even echoed back
    [rid] = ids_of(app, "GRAFFITI")
    assert contacts(app) == {}
    works = deliver_all(app)  # nor forwarded: there is nothing to forward
    [ticket] = [t for t in works.tickets if t.request_id == rid]
    assert all(value is None for value in vars(ticket.contact).values()), ticket.contact
    stored = every_stored_value(app).lower()
    assert [v for v in FORBIDDEN if v.lower() in stored] == []


def test_a_retry_fingerprint_does_not_depend_on_personal_values(
    client: Any, app: Any, submit_key: str
) -> None:
    """Idempotency-Key keeps a fingerprint of the POST; were personal fields hashed into
    it, anyone holding the table and the public record could confirm who filed an
    anonymous report (and after the purge, who filed any report)."""
    fields = {"service_code": "GRAFFITI", "description": "Tag", "address_string": "1 Elm St"}
    for key, personal in (("with", PERSONAL), ("without", {})):
        r = client.post(
            f"{API}/requests.json",
            data={**fields, **personal, "api_key": submit_key},
            headers={"Idempotency-Key": f"retry-{key}"},
        )
        assert r.status_code == 200, r.data
    with app.extensions["open311"].db.read() as session:
        fingerprints = {s.key: s.fingerprint for s in session.scalars(select(Submission))}
    assert fingerprints["retry-with"] == fingerprints["retry-without"]


def test_optional_keeps_what_is_given_and_nothing_else(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    everything = created(client, submit_key, "POTHOLE", fmt, **PERSONAL)["service_request_id"]
    nothing = created(client, submit_key, "POTHOLE", fmt)["service_request_id"]
    email_only = created(client, submit_key, "POTHOLE", fmt, email=EMAIL)["service_request_id"]
    stored = contacts(app)
    assert stored[everything] == STORED
    assert nothing not in stored  # no empty row either
    assert stored[email_only] == {**dict.fromkeys(PERSONAL), "email": EMAIL}


def test_required_any_of_accepts_either_field(
    client: Any, app: Any, submit_key: str, fmt: str
) -> None:
    where = {"address_string": "12 Elm Street"}
    assert created(client, submit_key, "ZONING", fmt, email=EMAIL, **where)["token"]
    assert created(client, submit_key, "ZONING", fmt, phone=PHONE, **where)["token"]
    stored = sorted(contacts(app).values(), key=lambda c: c["email"] or "")
    assert [(c["email"], c["phone"]) for c in stored] == [(None, STORED["phone"]), (EMAIL, None)]


@pytest.mark.parametrize(
    "given",
    [{}, {"first_name": "Zebulon", "last_name": "Quillfeather", "device_id": "dev-9x8y7z"}],
    ids=["nothing", "names-only"],
)
def test_required_refuses_a_report_without_the_fields_and_says_which(
    client: Any, app: Any, submit_key: str, fmt: str, given: dict[str, str]
) -> None:
    r = post(client, submit_key, "ZONING", fmt, address_string="12 Elm Street", **given)
    assert r.status_code == 400, r.data
    [error] = errors(r, fmt)
    assert text(error["code"]) == "400"
    assert "email" in error["description"] and "phone" in error["description"]
    for value in given.values():
        assert value not in error["description"]
    assert ids_of(app, "ZONING") == [] and contacts(app) == {}


@pytest.fixture
def small_app(db_url: str) -> Iterator[Any]:
    application = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "CONFIG": str(SMALL_CONFIG),
            "RATELIMIT_ENABLED": False,
        }
    )
    yield application
    application.extensions["open311"].db.dispose()


def test_required_all_of_names_exactly_what_is_missing(small_app: Any, fmt: str) -> None:
    client = small_app.test_client()
    key = make_key(small_app, "desk-app")
    where = {"address_string": "1 Quiet Lane"}
    r = post(client, key, "CALLBACK", fmt, phone=PHONE, **where)
    assert r.status_code == 400, r.data
    [error] = errors(r, fmt)
    assert "first_name" in error["description"] and "phone" not in error["description"]
    ok = post(client, key, "CALLBACK", fmt, phone=PHONE, first_name="Zebulon", **where)
    assert ok.status_code == 200, ok.data
    definition = parse(
        client.get(f"{API}/services/CALLBACK.{fmt}", query_string={"extensions": "true"}), fmt
    )
    assert definition["contact"] == {
        "rule": "required",
        "fields": ["first_name", "phone"],
        "match": "all",
    }


@pytest.mark.parametrize(
    ("code", "contact"),
    [
        ("ZONING", {"rule": "required", "fields": ["email", "phone"], "match": "any"}),
        ("GRAFFITI", {"rule": "anonymous", "fields": [], "match": None}),
        ("POTHOLE", {"rule": "optional", "fields": [], "match": None}),
        ("NEIGHBOR_COMPLAINT", {"rule": "optional", "fields": [], "match": None}),
    ],
)
def test_the_service_definition_shows_the_rule_as_an_extension(
    client: Any, fmt: str, code: str, contact: dict[str, Any]
) -> None:
    url = f"{API}/services/{code}.{fmt}"
    extended = parse(client.get(url, query_string={"extensions": "true"}), fmt)
    assert extended["service_code"] == code
    assert extended["contact"] == contact
    plain = parse(client.get(url), fmt)
    assert "contact" not in plain  # the standard definition is unchanged
