"""Every declaration of the reporter's personal fields is the one list in schemas/personal.py.

Each place below declares types or lengths of its own, so each could drift from the list
by hand: this pins them to it. A field added to `Contact` must reach all of them (and the
table needs a migration, which tests/storage checks)."""

from __future__ import annotations

from dataclasses import fields

import adapters.base
from adapters.common import CONTACT_FIELDS
from open311.models import ReporterContact
from schemas.config import ContactRuleSchema
from schemas.personal import MAX_LENGTH, PERSONAL_FIELDS, Contact
from schemas.requests import CreateRequestSchema
from schemas.staff import ContactOutSchema


def _max_length(field) -> int | None:
    return next((v.max for v in field.validators if hasattr(v, "max")), None)


def test_the_list_is_the_contact_an_adapter_is_handed() -> None:
    assert tuple(f.name for f in fields(Contact)) == PERSONAL_FIELDS
    assert adapters.base.Contact is Contact
    assert CONTACT_FIELDS == PERSONAL_FIELDS


def test_the_table_has_one_column_per_field_with_its_length() -> None:
    columns = ReporterContact.__table__.c
    assert {name: columns[name].type.length for name in PERSONAL_FIELDS} == MAX_LENGTH


def test_a_client_may_send_each_field_up_to_its_length() -> None:
    schema = CreateRequestSchema()
    assert {name: _max_length(schema.fields[name]) for name in PERSONAL_FIELDS} == MAX_LENGTH


def test_staff_see_each_field_and_contact_rules_may_require_each() -> None:
    assert set(PERSONAL_FIELDS) <= set(ContactOutSchema().fields)
    needs = ContactRuleSchema().fields["needs"].inner
    (choice,) = needs.validators
    assert tuple(choice.choices) == PERSONAL_FIELDS
