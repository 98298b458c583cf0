"""Adapters' settings as marshmallow schemas: the fields every adapter's schema is built from.

Each adapter declares `settings_schema`, a `SettingsSchema` subclass, and `Adapter.__init__`
loads the agency's `settings:` mapping through it, so that a typo in the YAML stops the
gateway at start-up with a message naming the key, instead of failing on the first report
hours later. The configuration loader loads the same schema for every agency and reports
its problems with the rest of the file's, in the same key-path lines
(`agencies[0].settings.timeout.read: Must be greater than 0.`, see `schemas/errors.py`).

Unknown keys are refused for the same reason: `fomat: xml` must not silently mean "json".
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load

from schemas.errors import key_path_lines

__all__ = [
    "Choice",
    "DollarTemplate",
    "Flag",
    "HttpUrl",
    "Placeholders",
    "SettingsError",
    "SettingsSchema",
    "Text",
    "TextList",
    "TextMap",
    "Whole",
    "load_settings",
]

# Template fields are only ever looked up by plain name: attribute access or indexing in a
# `str.format` field ("{x.__class__}") has no business in an operator's configuration.
_PLAIN_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SettingsError(ValueError):
    """An adapter's settings are wrong; `lines` name each key (`timeout.read: …`)."""

    def __init__(self, adapter: str, messages: Any) -> None:
        self.messages = messages
        self.lines = key_path_lines(messages)
        super().__init__(f"{adapter} adapter settings: " + "; ".join(self.lines))


class SettingsSchema(Schema):
    """Base of every adapter's settings schema: unknown keys are refused, and a key left
    empty in the YAML (`fault_xpath:`, a null) counts as absent, so its default applies."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _nulls_are_absent(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v is not None}
        return data


def load_settings(adapter: str, schema: type[Schema], settings: Any) -> dict[str, Any]:
    """The settings loaded through `schema`; SettingsError naming every wrong key."""
    if settings is None:
        settings = {}
    try:
        loaded: dict[str, Any] = schema().load(settings)
    except ValidationError as exc:
        raise SettingsError(adapter, exc.messages) from None
    return loaded


class Text(fields.String):
    """Text that must not be blank; YAML numbers are taken as their text
    (`jurisdiction_id: 12345` is clearly meant as text)."""

    default_error_messages = {"blank": "Must not be empty."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            raise self.make_error("blank")
        return text


class HttpUrl(Text):
    """An http:// or https:// URL (surrounding space dropped)."""

    default_error_messages = {"url": "Must be an http:// or https:// URL."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        url = super()._deserialize(value, attr, data, **kwargs).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.make_error("url")
        return url


class Choice(Text):
    """One of a few words, any case, given back in lower case."""

    default_error_messages = {"choice": "Must be one of: {choices}."}  # noqa: RUF012

    def __init__(self, choices: Collection[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = tuple(choices)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        word = super()._deserialize(value, attr, data, **kwargs).strip().lower()
        if word not in self.choices:
            raise self.make_error("choice", choices=", ".join(self.choices))
        return word


class Flag(fields.Boolean):
    """true or false, and nothing that merely looks like one: `send_contact: "no"` is a
    mistake to report, not a truthy string."""

    default_error_messages = {"invalid": "Must be true or false."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Whole(fields.Integer):
    """A whole number (not a bool, not 2.5, not "2")."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class TextMap(fields.Field):
    """A mapping of text to text (`service_codes`, `namespaces`, `headers`); YAML numbers
    as text; a problem is named by its key (`service_codes.POTHOLE`)."""

    default_error_messages = {"invalid": "Must be a mapping."}  # noqa: RUF012

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        result: dict[str, str] = {}
        problems: dict[str, list[str]] = {}
        for key, item in value.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                problems[str(key)] = ["Must be text."]
            else:
                result[str(key)] = str(item)
        if problems:
            raise ValidationError(problems)
        return result


class TextList(fields.Field):
    """One text or a list of non-empty texts, given back as a list (stripped)."""

    default_error_messages = {"invalid": "Must be a text or a list of non-empty texts."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(
            isinstance(v, str) and v.strip() for v in items
        ):
            raise self.make_error("invalid")
        return [v.strip() for v in items]


class Placeholders:
    """Validator of a `str.format` template (URLs, a mail subject): plain names only, each
    one the adapter fills in, and every one in `required` present.

    The one check for `{name}` placeholders, whichever setting holds them."""

    def __init__(self, known: Collection[str], *, required: Collection[str] = ()) -> None:
        self.known = tuple(known)
        self.required = tuple(required)

    def __call__(self, template: str) -> str:
        names = format_fields(template)
        unknown = sorted(set(names) - set(self.known))
        if unknown:
            raise ValidationError(
                f"Unknown placeholder {', '.join('{' + n + '}' for n in unknown)}; "
                f"known: {', '.join('{' + n + '}' for n in self.known)}."
            )
        missing = [n for n in self.required if n not in names]
        if missing:
            raise ValidationError(f"Must contain {', '.join('{' + n + '}' for n in missing)}.")
        return template


def format_fields(template: str) -> list[str]:
    """The field names of a `str.format` template; ValidationError when it is not one or a
    field is not a plain name."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValidationError(f"Not a valid template: {exc}.") from None
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        if not _PLAIN_FIELD.match(field_name):
            raise ValidationError(f"The placeholder {{{field_name}}} is not a plain name.")
        names.append(field_name)
    return names


class DollarTemplate(fields.Field):
    """A `string.Template` body (`$description`): no stray `$`, only the names the adapter
    fills in, or (with `prefix`) names that start with it (`$attribute_DEPTH`)."""

    default_error_messages = {  # noqa: RUF012
        "stray": "Has a stray '$' (write $$ for a literal dollar sign).",
        "unknown": "Unknown placeholder {names}.",
    }

    def __init__(self, known: Collection[str], *, prefix: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.known = frozenset(known)
        self.prefix = prefix

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> string.Template:
        template = string.Template(Text().deserialize(value))
        if not template.is_valid():
            raise self.make_error("stray")
        unknown = sorted(
            n
            for n in template.get_identifiers()
            if n not in self.known and not (self.prefix and n.startswith(self.prefix))
        )
        if unknown:
            raise self.make_error("unknown", names=", ".join("$" + n for n in unknown))
        return template
