"""The reporter's contact details: their shape, and the service's contact rule applied to
them (configuration, not code: `gateway.phone_region`, `services[].contact` in the YAML)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from schemas.personal import PERSONAL_FIELDS

from .catalog import Service


class ContactRequired(Exception):
    """The service needs a way to reach the reporter and the report has none."""


class ContactInvalid(Exception):
    """A phone number or e-mail address that cannot be one; the message names the field."""


def checked_contact(data: Mapping[str, Any], phone_region: str) -> dict[str, Any]:
    """`data` with the personal fields as they are stored: trimmed, a blank one absent (a
    phone of one space reaches nobody, so it must not satisfy a contact rule), the phone
    in E.164 (`+12035550199`, an extension kept as ` ext. 12`), the e-mail normalised
    (the domain in lower case, Unicode in NFC). A number without `+country` is read as
    dialled in `phone_region`. Raises ContactInvalid naming the field."""
    out = dict(data)
    for name in PERSONAL_FIELDS:
        value = out.pop(name, None)
        if isinstance(value, str) and value.strip():
            out[name] = value.strip()
    if "phone" in out:
        out["phone"] = _phone(out["phone"], phone_region)
    if "email" in out:
        out["email"] = _email(out["email"])
    return out


def _phone(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    # Valid for its region's numbering plan (length and ranges): 555-1234 without an area
    # code is not a number anyone can dial back. No look-up: nothing leaves the gateway.
    if number is None or not phonenumbers.is_valid_number(number):
        raise ContactInvalid(
            "phone: Not a phone number. Give it with its area code, or with +country code "
            "from outside the country (e.g. +1 203 555 0199)."
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164} ext. {number.extension}" if number.extension else e164


def _email(text: str) -> str:
    try:
        # Syntax only: no DNS look-up at submission (slow, and it would tell the world's
        # resolvers who reports what).
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ContactInvalid(f"email: Not an e-mail address ({exc}).") from exc


def personal_fields_to_keep(service: Service, data: Mapping[str, Any]) -> dict[str, str]:
    """The personal fields to store: none for an anonymous service (they are dropped before
    anything is written), all given otherwise; a required rule must be satisfied. `data`
    has been through checked_contact, so a blank value is absent."""
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
