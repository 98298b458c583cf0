"""Reading an adapter's settings from the plain mapping the agency configuration gives.

Every adapter validates its settings once, in `__init__`, so that a typo in the YAML stops
the gateway at start-up with a message naming the key, instead of failing on the first
report hours later. Unknown keys are refused for the same reason: `fomat: xml` must not
silently mean "json".
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

# Template fields are only ever looked up by plain name: attribute access or indexing in a
# `str.format` field ("{x.__class__}") has no business in an operator's configuration.
_PLAIN_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SettingsReader:
    """Typed, validated access to one settings mapping (or one nested mapping inside it)."""

    def __init__(
        self,
        adapter: str,
        data: Mapping[str, Any] | None,
        *,
        allowed: Collection[str],
        path: str = "",
    ) -> None:
        self.adapter = adapter
        self.path = path
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            where = f"setting '{path.rstrip('.')}'" if path else "settings"
            raise ValueError(f"{adapter} adapter: {where} must be a mapping")
        self.data: Mapping[str, Any] = data
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            names = ", ".join(f"'{path}{k}'" for k in unknown)
            known = ", ".join(sorted(allowed))
            raise ValueError(
                f"{adapter} adapter: unknown setting {names} (known settings here: {known})"
            )

    def label(self, key: str) -> str:
        return f"{self.path}{key}"

    def error(self, key: str, problem: str) -> ValueError:
        return ValueError(f"{self.adapter} adapter: setting '{self.label(key)}' {problem}")

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def get_str(
        self, key: str, *, required: bool = False, default: str | None = None
    ) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return default
        # YAML turns `jurisdiction_id: 12345` into an int; that is still clearly meant as text.
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {type(value).__name__}")
        if not value.strip():
            if required:
                raise self.error(key, "must not be empty")
            return default
        return value

    def require_str(self, key: str) -> str:
        value = self.get_str(key, required=True)
        assert value is not None  # get_str raised otherwise
        return value

    def get_choice(self, key: str, choices: Collection[str], default: str) -> str:
        value = self.get_str(key, default=default)
        assert value is not None
        normalized = value.strip().lower()
        if normalized not in choices:
            options = ", ".join(sorted(choices))
            raise self.error(key, f"must be one of {options}, not {value!r}")
        return normalized

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {value!r}")
        return value

    def get_int(self, key: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, not {value!r}")
        if not minimum <= value <= maximum:
            raise self.error(key, f"must be between {minimum} and {maximum}, not {value}")
        return value

    def get_url(self, key: str, *, required: bool = True) -> str | None:
        value = self.get_str(key, required=required)
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.error(key, f"must be an http:// or https:// URL, not {value!r}")
        return value

    def get_str_map(self, key: str) -> dict[str, str]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(key, "must be a mapping")
        result: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                raise self.error(f"{key}.{k}", "must be a string")
            result[str(k)] = str(v)
        return result

    def get_str_list(self, key: str, *, required: bool = False) -> list[str]:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            raise self.error(key, "must be a string or a list of non-empty strings")
        if required and not value:
            raise self.error(key, "must not be empty")
        return [v.strip() for v in value]

    def nested(self, key: str, *, allowed: Collection[str]) -> SettingsReader | None:
        """A reader over the mapping under `key`, or None when the key is absent."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.error(key, "must be a mapping")
        return SettingsReader(self.adapter, value, allowed=allowed, path=f"{self.label(key)}.")


def format_fields(template: str) -> list[str]:
    """The field names of a `str.format` template; ValueError when a field is not a plain name."""
    names: list[str] = []
    for _, field_name, _, _ in string.Formatter().parse(template):
        if field_name is None:
            continue
        if not _PLAIN_FIELD.match(field_name):
            raise ValueError(f"field {{{field_name}}} is not a plain name")
        names.append(field_name)
    return names


def check_format_template(
    reader: SettingsReader, key: str, template: str, known: Collection[str]
) -> None:
    """Refuse a `str.format` template that names fields the adapter will not supply."""
    try:
        names = format_fields(template)
    except ValueError as exc:
        raise reader.error(key, f"is not a valid template: {exc}") from None
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise reader.error(
            key,
            f"uses unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
        )
