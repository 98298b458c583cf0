"""A service's contact rule applied to a report's personal fields (configuration, not code:
`services[].contact` in the YAML)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.personal import PERSONAL_FIELDS

from .catalog import Service


class ContactRequired(Exception):
    """The service needs a way to reach the reporter and the report has none."""


def personal_fields_to_keep(service: Service, data: Mapping[str, Any]) -> dict[str, str]:
    """The personal fields to store: none for an anonymous service (they are dropped before
    anything is written), all given otherwise; a required rule must be satisfied."""
    given = {f: data[f] for f in PERSONAL_FIELDS if data.get(f)}
    rule = service.contact
    if rule.rule == "anonymous":
        return {}
    if rule.rule == "required":
        present = [f for f in rule.fields if f in given]
        missing = [f for f in rule.fields if f not in given]
        if (rule.any_of and not present) or (not rule.any_of and missing):
            wanted = " or ".join(rule.fields) if rule.any_of else " and ".join(missing)
            raise ContactRequired(
                f"{service.name} reports need the reporter's contact details: send {wanted}."
            )
    return given
