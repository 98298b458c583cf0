"""Output schemas. Each is a whitelist: a field not declared here never leaves the gateway,
which is what keeps personal data out of public answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from marshmallow import Schema, fields

from .fields import W3CDateTime


class _Out(Schema):
    pass


class DiscoveryEndpointSchema(_Out):
    specification = fields.String()
    url = fields.String()
    changeset = W3CDateTime()
    type = fields.String()
    formats = fields.List(fields.String())


class DiscoverySchema(_Out):
    changeset = W3CDateTime()
    contact = fields.String()
    key_service = fields.String()
    endpoints = fields.List(fields.Nested(DiscoveryEndpointSchema))


class ServiceSchema(_Out):
    service_code = fields.String(attribute="code")
    service_name = fields.String(attribute="name")
    description = fields.String()
    metadata = fields.Boolean()
    type = fields.String()
    keywords = fields.Method("_keywords")
    group = fields.String(allow_none=True)

    def _keywords(self, service: Any) -> str | None:
        return ", ".join(service.keywords) or None


class ExtendedServiceSchema(ServiceSchema):
    """`extensions=true`: which jurisdiction takes the service (a point may pick it)."""

    jurisdiction_id = fields.String(attribute="jurisdiction")


class CoveragePropertiesSchema(_Out):
    jurisdiction_id = fields.String(attribute="id")
    name = fields.String()
    services = fields.Integer()


class CoverageFeatureSchema(_Out):
    """One served jurisdiction in jurisdictions.geojson; geometry null when unbounded."""

    type = fields.Constant("Feature")
    id = fields.String()
    geometry = fields.Dict(allow_none=True)
    properties = fields.Nested(CoveragePropertiesSchema)


class CoverageSchema(_Out):
    type = fields.Constant("FeatureCollection")
    features = fields.List(fields.Nested(CoverageFeatureSchema))


class ValueOutSchema(_Out):
    key = fields.String()
    name = fields.String()


class AttributeOutSchema(_Out):
    variable = fields.Boolean()
    code = fields.String()
    datatype = fields.String()
    required = fields.Boolean()
    datatype_description = fields.String(allow_none=True)
    order = fields.Integer()
    description = fields.String()
    values = fields.Method("_values")

    def _values(self, attribute: Any) -> list[dict[str, str]] | None:
        if attribute.datatype not in ("singlevaluelist", "multivaluelist"):
            return None
        return ValueOutSchema(many=True).dump(attribute.values)


class ServiceDefinitionSchema(_Out):
    service_code = fields.String(attribute="code")
    attributes = fields.List(fields.Nested(AttributeOutSchema))


class ContactRuleOutSchema(_Out):
    rule = fields.String()
    required_fields = fields.Method("_fields", data_key="fields")
    # "any": one of the fields is enough (an e-mail OR a phone); "all": every one is needed.
    match = fields.Method("_match")

    def _match(self, rule: Any) -> str | None:
        return ("any" if rule.any_of else "all") if rule.fields else None

    def _fields(self, rule: Any) -> list[str]:
        return list(rule.fields)


class ExtendedServiceDefinitionSchema(ServiceDefinitionSchema):
    """`extensions=true`: what the service asks of the reporter (the contact rule)."""

    contact = fields.Nested(ContactRuleOutSchema)


class CreatedSchema(_Out):
    """The POST answer: which of id and token appear depends on the service type."""

    service_request_id = fields.String()
    token = fields.String()
    service_notice = fields.String(allow_none=True)
    account_id = fields.String(allow_none=True)


class TokenSchema(_Out):
    service_request_id = fields.String(allow_none=True)
    token = fields.String()


class RequestSchema(_Out):
    service_request_id = fields.String(attribute="public_id")
    status = fields.String()
    status_notes = fields.String(allow_none=True)
    service_name = fields.String()
    service_code = fields.String()
    description = fields.String(allow_none=True)
    agency_responsible = fields.String(allow_none=True)
    service_notice = fields.String(allow_none=True)
    requested_datetime = W3CDateTime()
    updated_datetime = W3CDateTime()
    expected_datetime = W3CDateTime(allow_none=True)
    address = fields.String(allow_none=True)
    address_id = fields.String(allow_none=True)
    zipcode = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    long = fields.Float(allow_none=True)
    media_url = fields.String(allow_none=True)


class NoteSchema(_Out):
    datetime = W3CDateTime(attribute="updated_datetime")
    type = fields.Method("_type")
    status = fields.String()
    detailed_status = fields.String(allow_none=True)
    summary = fields.String(attribute="status_notes", allow_none=True)

    def _type(self, update: Any) -> str:
        return "closed" if update.status == "closed" else "activity"


class ExtendedRequestSchema(RequestSchema):
    """`extensions=true`: the Chicago/CitySDK extras, still free of personal data.
    `history` holds each report's public updates by its row id (store.history_for); a
    report not in it has no notes."""

    extended_attributes = fields.Method("_extended")
    attributes = fields.Method("_attributes")
    notes = fields.Method("_notes")

    def __init__(
        self, *, history: Mapping[int, Sequence[Any]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.history = history or {}

    def _attributes(self, request: Any) -> list[dict[str, str]]:
        # A list of {code, value} (as San Francisco's extension has it) rather than a map:
        # attribute codes need not be valid XML element names. A multivaluelist answer
        # gives one entry per value.
        out = []
        for code, value in (request.attributes or {}).items():
            for item in value if isinstance(value, list) else [value]:
                out.append({"code": code, "value": item})
        return out

    def _extended(self, request: Any) -> dict[str, Any]:
        return {
            "detailed_status": request.detailed_status,
            "media_urls": list(request.media_urls or []),
        }

    def _notes(self, request: Any) -> list[dict[str, Any]]:
        return NoteSchema(many=True).dump(self.history.get(request.id, []))


# A private report shown to the key that filed it: how it is going, never what it says or
# where (an app's key serves every user of the app). A whitelist over RequestSchema's fields.
FOLLOWED_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "agency_responsible",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
)


def followed_private_schema(
    extensions: bool = False, history: Mapping[int, Sequence[Any]] | None = None
) -> Schema:
    """The followed view; with `extensions`, the public notes of its history too."""
    if extensions:
        return ExtendedRequestSchema(only=(*FOLLOWED_FIELDS, "notes"), history=history)
    return RequestSchema(only=FOLLOWED_FIELDS)


class RequestUpdateSchema(_Out):
    """mySociety's servicerequestupdates feed. `public_ids` maps each update's request row
    id to the report's public id."""

    update_id = fields.String(attribute="public_id")
    service_request_id = fields.Method("_public_id")
    status = fields.String()
    updated_datetime = W3CDateTime()
    description = fields.String(attribute="status_notes", allow_none=True)
    media_url = fields.Constant(None)  # updates carry no media of their own here
    external_status_code = fields.String(attribute="detailed_status", allow_none=True)

    def __init__(
        self, *, public_ids: Mapping[int, str | None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.public_ids = public_ids or {}

    def _public_id(self, update: Any) -> str | None:
        return self.public_ids[update.request_id]


class UpdateCreatedSchema(_Out):
    """The answer to POST servicerequestupdates: the gateway's id for the update."""

    update_id = fields.String(attribute="public_id")


class ErrorSchema(_Out):
    code = fields.Raw()
    description = fields.String()
