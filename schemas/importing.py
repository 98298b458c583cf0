"""The mapping file of `open311 import`: which column of a legacy system's CSV export holds
what, and how its values read (YAML, validated like the configuration, key-path errors).

Cross-references to the configuration (a service code, a jurisdiction id) and to the CSV
file (a column name) are checked by open311/importer.py, which knows both.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

STATUSES = ("open", "closed")
# A legacy id prefixed with the source: "<source>:<id>" is what the gateway keeps
# (service_request.source_key, 200 characters).
SOURCE = validate.Regexp(
    r"^[A-Za-z0-9_.-]{1,60}$", error="Use 1 to 60 letters, digits, '_', '-' or '.'."
)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _column(*, required: bool = False) -> fields.String:
    return fields.String(required=required, validate=validate.Length(min=1, max=200))


class ColumnsSchema(_Strict):
    """Column names in the CSV's header row. `id`, `service`, `requested` are needed."""

    id = _column(required=True)
    service = _column(required=True)
    requested = _column(required=True)
    status = _column()
    updated = _column()
    lat = _column()
    long = _column()
    address = _column()
    address_id = _column()
    zipcode = _column()
    description = _column()
    status_notes = _column()
    media_url = _column()
    jurisdiction = _column()

    @validates_schema
    def _together(self, data: dict[str, Any], **_: Any) -> None:
        if ("lat" in data) != ("long" in data):
            raise ValidationError("Map lat and long together.", "long" if "lat" in data else "lat")


class _ValueMap(fields.Dict):
    """A value map: the legacy value (matched without surrounding spaces, in any case) to
    one of ours. Keys that differ only in case would be ambiguous."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, dict):
            # YAML reads `1: POTHOLE` and `yes: open` as numbers and booleans.
            value = {_as_text(k): v for k, v in value.items()}
        loaded = super()._deserialize(value, attr, data, **kwargs)
        seen: dict[str, str] = {}
        for key in loaded:
            folded = key.strip().casefold()
            if folded in seen:
                raise ValidationError(
                    {key: [f"The same value as {seen[folded]!r} (case and spaces are ignored)."]}
                )
            seen[folded] = key
        return loaded


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class DatetimesSchema(_Strict):
    # A strptime format ("%m/%d/%Y %I:%M:%S %p"); without one, ISO 8601 ("2022-01-31
    # 08:05:00", with or without an offset).
    format = fields.String(load_default=None, validate=validate.Length(min=2, max=100))
    # The zone of times written without an offset; an IANA name. UTC by default.
    timezone = fields.String(load_default="UTC")

    @validates("timezone")
    def _zone(self, value: str, **_: Any) -> None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                f"Unknown time zone {value!r}; use an IANA name such as America/New_York."
            ) from None

    @validates("format")
    def _format(self, value: str | None, **_: Any) -> None:
        if value is not None and "%" not in value:
            raise ValidationError("A strptime format, such as '%m/%d/%Y %I:%M:%S %p'.")


class MappingSchema(_Strict):
    # Names the legacy system: with a row's id it makes the key that keeps a re-run from
    # importing a row twice, so two systems' ids never collide.
    source = fields.String(required=True, validate=SOURCE)
    columns = fields.Nested(ColumnsSchema, required=True)
    # Legacy service value -> service code of the configuration.
    services = _ValueMap(
        keys=fields.String(),
        values=fields.String(validate=validate.Length(min=1, max=100)),
        required=True,
        validate=validate.Length(min=1, error="Map at least one service."),
    )
    # Legacy status value -> open or closed. Default: open and closed themselves.
    statuses = _ValueMap(
        keys=fields.String(),
        values=fields.String(validate=validate.OneOf(STATUSES, error="open or closed.")),
        load_default=lambda: {"open": "open", "closed": "closed"},
    )
    datetimes = fields.Nested(DatetimesSchema, load_default=lambda: DatetimesSchema().load({}))
    # Every row in one jurisdiction; or columns.jurisdiction with this value map; or, with
    # neither, the jurisdiction whose boundary holds the row's point (as POST requests).
    jurisdiction = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    jurisdictions = _ValueMap(keys=fields.String(), values=fields.String(), load_default=None)
    csv = fields.Dict(
        keys=fields.String(validate=validate.OneOf(("delimiter", "encoding"))),
        values=fields.String(),
        load_default=dict,
    )

    @validates("csv")
    def _csv(self, value: dict[str, str], **_: Any) -> None:
        if "delimiter" in value and len(value["delimiter"]) != 1:
            raise ValidationError({"delimiter": ["One character, such as ',' or ';'."]})
        if "encoding" in value:
            import codecs

            try:
                codecs.lookup(value["encoding"])
            except LookupError:
                raise ValidationError(
                    {"encoding": [f"Unknown encoding {value['encoding']!r}."]}
                ) from None

    @validates_schema
    def _jurisdiction(self, data: dict[str, Any], **_: Any) -> None:
        by_column = "jurisdiction" in data.get("columns", {})
        if data.get("jurisdiction") and (by_column or data.get("jurisdictions")):
            raise ValidationError(
                "Either one jurisdiction for every row, or columns.jurisdiction with a "
                "jurisdictions map.",
                "jurisdiction",
            )
        if by_column and not data.get("jurisdictions"):
            raise ValidationError(
                "columns.jurisdiction needs a jurisdictions map (legacy value: jurisdiction id).",
                "jurisdictions",
            )
        if data.get("jurisdictions") and not by_column:
            raise ValidationError(
                "A jurisdictions map needs columns.jurisdiction.", "jurisdictions"
            )
