"""A marshmallow schema made from a service definition, to check a report's attributes."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from marshmallow import EXCLUDE, Schema, fields, validate
from marshmallow.types import ErrorMessages

from .fields import BoundedList, FiniteFloat, Text, W3CDateTime


class AttributeLike(Protocol):
    # Read-only, so the catalogue's frozen Attribute dataclass satisfies it.
    @property
    def code(self) -> str: ...
    @property
    def datatype(self) -> str: ...
    @property
    def required(self) -> bool: ...
    @property
    def variable(self) -> bool: ...
    @property
    def description(self) -> str: ...

    @property
    def keys(self) -> frozenset[str]: ...


def _field(attribute: AttributeLike) -> fields.Field:
    required = attribute.required and attribute.variable
    messages: ErrorMessages = {"required": f"{attribute.code} is required: {attribute.description}"}
    kind = attribute.datatype
    if kind == "number":
        return FiniteFloat(required=required, error_messages=messages)
    if kind == "datetime":
        return W3CDateTime(required=required, error_messages=messages)
    if kind == "singlevaluelist":
        return fields.String(
            required=required,
            error_messages=messages,
            validate=validate.OneOf(
                sorted(attribute.keys), error="Not one of the allowed keys: {choices}."
            ),
        )
    if kind == "multivaluelist":
        # Each allowed key once at most (prepare() drops repeats): no longer list is an answer.
        return BoundedList(
            fields.String(
                validate=validate.OneOf(
                    sorted(attribute.keys), error="Not one of the allowed keys: {choices}."
                )
            ),
            max_items=len(attribute.keys),
            required=required,
            error_messages=messages,
            validate=validate.Length(min=1),
        )
    max_len = 255 if kind == "string" else 4000
    return Text(required=required, error_messages=messages, validate=validate.Length(max=max_len))


@lru_cache(maxsize=1024)
def attribute_schema(attributes: Sequence[AttributeLike]) -> Schema:
    """Cached per service: attribute tuples are immutable and hashable."""
    declared = {a.code: _field(a) for a in attributes if a.variable}
    schema_class = Schema.from_dict(declared, name="AttributesSchema")
    return schema_class(unknown=EXCLUDE)


def prepare(attributes: Sequence[AttributeLike], raw: dict[str, list[str]]) -> dict[str, Any]:
    """Shape raw form values for the schema: lists for multivaluelists, scalars otherwise."""
    kinds = {a.code: a.datatype for a in attributes}
    shaped: dict[str, Any] = {}
    for code, values in raw.items():
        if code not in kinds:
            continue  # unknown attributes are ignored, as mySociety's adapter does
        if kinds[code] == "multivaluelist":
            shaped[code] = list(dict.fromkeys(values))  # a key repeated is one answer
        else:
            shaped[code] = values[0] if len(values) == 1 else values
    return shaped
