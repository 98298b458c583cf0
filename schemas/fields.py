"""Fields shared by the input and output schemas."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from marshmallow import fields

from .datetimes import EARLIEST, LATEST, format_w3c, parse_w3c, within_range
from .xmltext import XML_ILLEGAL


class W3CDateTime(fields.Field):
    """In: lenient (see parse_w3c), within EARLIEST..LATEST. Out: UTC with `Z` and no
    fractional seconds."""

    default_error_messages = {  # noqa: RUF012
        "invalid": "Not a date and time. Use W3C format, e.g. 2026-01-31T14:30:00Z.",
        "range": f"Dates lie between {format_w3c(EARLIEST)} and {format_w3c(LATEST)}.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, datetime):
            parsed = value if value.tzinfo else value.replace(tzinfo=UTC)
        elif isinstance(value, str):
            try:
                parsed = parse_w3c(value)
            except ValueError as exc:
                raise self.make_error("invalid") from exc
        else:
            raise self.make_error("invalid")
        try:
            return within_range(parsed)
        except ValueError as exc:
            raise self.make_error("range") from exc

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_w3c(value)


def one_line_break(text: str) -> str:
    """CRLF and a lone CR become `\n`: a line break is one character in every limit and is
    stored one way, whatever the client's platform sent (browsers send CRLF from a textarea)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class Text(fields.String):
    """Free text: line breaks normalised (see one_line_break) before any length is checked,
    and none of the characters XML 1.0 cannot carry (NUL, BEL, ESC and the other C0
    controls but tab and line breaks; U+FFFE, U+FFFF): such a character is never what a
    person typed, and would be answered in JSON but silently left out of XML."""

    default_error_messages = {  # noqa: RUF012
        "control": "Contains control characters (only tab and line breaks are allowed).",
    }

    def __init__(self, *, allow_controls: bool = False, **kwargs: Any) -> None:
        # Only for a back-end's text, which the gateway must take as it comes (see
        # open311/updates.py `Change`): people's text never needs it.
        super().__init__(**kwargs)
        self.allow_controls = allow_controls

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = one_line_break(super()._deserialize(value, attr, data, **kwargs))
        if not self.allow_controls and XML_ILLEGAL.search(text):
            raise self.make_error("control")
        return text


class FiniteFloat(fields.Float):
    """A float that refuses NaN and infinities, whatever their spelling."""

    def _validated(self, value: Any) -> float:
        number = super()._validated(value)
        if number is not None and not math.isfinite(number):
            raise self.make_error("special")
        return number


class BoundedList(fields.List):
    """A list refused whole when it holds more than `max_items` values, before any value is
    read: a thousand values are never stored, nor answered with a thousand errors."""

    default_error_messages = {"too_many": "At most {max_items} values."}  # noqa: RUF012

    def __init__(self, inner: Any, *, max_items: int, **kwargs: Any) -> None:
        super().__init__(inner, **kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) > self.max_items:
            raise self.make_error("too_many", max_items=self.max_items)
        return super()._deserialize(value, attr, data, **kwargs)


class CommaList(fields.Field):
    """`a,b, c` -> ["a", "b", "c"]; empty items and repeats dropped; at most `max_items`."""

    default_error_messages = {  # noqa: RUF012
        "invalid": "Expected a comma-separated list.",
        "too_many": "At most {max_items} values.",
    }

    def __init__(self, *, max_items: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if not isinstance(value, str):
            raise self.make_error("invalid")
        items = list(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
        if len(items) > self.max_items:
            raise self.make_error("too_many", max_items=self.max_items)
        return items


class BoundingBox(fields.Field):
    """`minLong,minLat,maxLong,maxLat` (the GeoJSON / OGC order) -> a tuple of 4 floats."""

    default_error_messages = {  # noqa: RUF012
        "invalid": "Expected four numbers: min_long,min_lat,max_long,max_lat.",
        "range": "Longitudes lie in -180..180 and latitudes in -90..90.",
        "order": "The minimum must be below the maximum (min_long,min_lat,max_long,max_lat).",
    }

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> tuple[float, float, float, float]:
        parts = value.split(",") if isinstance(value, str) else []
        try:
            numbers = [float(p) for p in parts]
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
            raise self.make_error("invalid")
        min_long, min_lat, max_long, max_lat = numbers
        if not (-180 <= min_long <= 180 and -180 <= max_long <= 180):
            raise self.make_error("range")
        if not (-90 <= min_lat <= 90 and -90 <= max_lat <= 90):
            raise self.make_error("range")
        if min_long >= max_long or min_lat >= max_lat:
            raise self.make_error("order")
        return min_long, min_lat, max_long, max_lat
