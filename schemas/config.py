"""The gateway's configuration file, as an agency's IT team writes it (YAML).

The schemas check shape and values; cross-references (a service naming an unknown
jurisdiction, a route naming an unknown agency) are checked in `ConfigSchema` too, so a
bad file is refused as a whole at start-up with every problem listed.
"""

from __future__ import annotations

from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from .personal import PERSONAL_FIELDS

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LIST_DATATYPES = ("singlevaluelist", "multivaluelist")
SERVICE_TYPES = ("realtime", "batch", "blackbox")
CODE = validate.Regexp(r"^[A-Za-z0-9_.:-]+$", error="Use letters, digits, '_', '-', '.' or ':'.")


def _one_placeholder(what: str) -> validate.Regexp:
    """A pattern with exactly one `{}`, where the slug or the name goes."""
    return validate.Regexp(r"^[^{}]*\{\}[^{}]*$", error=f"Use exactly one {{{{}}}} for the {what}.")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class ValueSchema(_Strict):
    key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    name = fields.String(required=True, validate=validate.Length(min=1, max=500))

    @pre_load
    def _scalar_keys(self, data: Any, **_: Any) -> Any:
        # YAML reads `key: 1` as an int; a key is a string on the wire.
        if isinstance(data, dict) and isinstance(data.get("key"), int | float):
            data = {**data, "key": str(data["key"])}
        return data


class AttributeSchema(_Strict):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=100), CODE])
    datatype = fields.String(required=True, validate=validate.OneOf(DATATYPES))
    description = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    datatype_description = fields.String(load_default=None, allow_none=True)
    required = fields.Boolean(load_default=False)
    variable = fields.Boolean(load_default=True)
    order = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    values = fields.List(fields.Nested(ValueSchema), load_default=list)

    @validates_schema
    def _values_match_datatype(self, data: dict[str, Any], **_: Any) -> None:
        if data["datatype"] in LIST_DATATYPES:
            if not data["values"]:
                raise ValidationError(f"A {data['datatype']} needs at least one value.", "values")
            keys = [v["key"] for v in data["values"]]
            if len(keys) != len(set(keys)):
                raise ValidationError("Value keys must be unique.", "values")
        elif data["values"]:
            raise ValidationError(f"A {data['datatype']} attribute takes no values.", "values")


class ContactRuleSchema(_Strict):
    rule = fields.String(
        load_default="optional", validate=validate.OneOf(("anonymous", "optional", "required"))
    )
    # With rule=required: the personal fields a report must carry. `any_of` accepts a
    # report that has at least one of them (an e-mail OR a phone); otherwise all are needed.
    needs = fields.List(
        fields.String(validate=validate.OneOf(PERSONAL_FIELDS)),
        load_default=list,
        data_key="fields",
    )
    any_of = fields.Boolean(load_default=True)

    @validates_schema
    def _fields_only_when_required(self, data: dict[str, Any], **_: Any) -> None:
        if data["rule"] == "required" and not data["needs"]:
            raise ValidationError("A required contact rule names the fields it needs.", "fields")
        if data["rule"] != "required" and data["needs"]:
            raise ValidationError("Only a required contact rule takes fields.", "fields")


class ServiceSchema(_Strict):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=100), CODE])
    jurisdiction = fields.String(load_default=None)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    group = fields.String(load_default=None, allow_none=True)
    keywords = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)
    type = fields.String(load_default="realtime", validate=validate.OneOf(SERVICE_TYPES))
    service_notice = fields.String(load_default=None, allow_none=True)
    agency = fields.String(required=True)
    visibility = fields.String(
        load_default="public", validate=validate.OneOf(("public", "private"))
    )
    contact = fields.Nested(ContactRuleSchema, load_default=lambda: ContactRuleSchema().load({}))
    # Where the service may be reported: an area id, "area:key" for one feature of an
    # area, "anywhere", or (the default) the jurisdiction's boundary when it has one.
    area = fields.String(load_default=None, allow_none=True)
    attributes = fields.List(fields.Nested(AttributeSchema), load_default=list)

    @pre_load
    def _keywords_as_list(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("keywords"), str):
            words = [w.strip() for w in data["keywords"].split(",") if w.strip()]
            data = {**data, "keywords": words}
        return data

    @post_load
    def _number_attributes(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # Spec: order is "any positive integer not used for other attributes"; number the
        # unnumbered ones after the highest given so the file author need not.
        used = {a["order"] for a in data["attributes"] if a["order"] is not None}
        nxt = max(used, default=0)
        for attribute in data["attributes"]:
            if attribute["order"] is None:
                nxt += 1
                attribute["order"] = nxt
        return data

    @validates_schema
    def _attributes_unique(self, data: dict[str, Any], **_: Any) -> None:
        codes = [a["code"] for a in data.get("attributes", [])]
        if len(codes) != len(set(codes)):
            raise ValidationError("Attribute codes must be unique within a service.", "attributes")
        orders = [a["order"] for a in data.get("attributes", []) if a.get("order") is not None]
        if len(orders) != len(set(orders)):
            raise ValidationError("Attribute orders must be unique within a service.", "attributes")


class JurisdictionSchema(_Strict):
    id = fields.String(required=True, validate=[validate.Length(min=1, max=200), CODE])
    name = fields.String(required=True)
    boundary = fields.String(load_default=None, allow_none=True)  # GeoJSON file path
    id_prefix = fields.String(
        load_default="",
        validate=validate.Regexp(r"^[A-Za-z0-9_-]*$", error="Use letters, digits, '_' or '-'."),
    )


class RegionOverrideSchema(_Strict):
    """One town of a region, where it differs from the region's shared catalogue."""

    name = fields.String(load_default=None, allow_none=True)
    id_prefix = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_-]*$", error="Use letters, digits, '_' or '-'."),
    )
    # Its own services: a code the shared catalogue has replaces that entry, a new code adds.
    services = fields.List(fields.Nested(ServiceSchema), load_default=list)
    # Its own agency for a service of the shared catalogue: {SERVICE_CODE: agency id}.
    agencies = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    # Services of the shared catalogue this town does not take.
    without = fields.List(fields.String(), load_default=list)


class RegionSchema(_Strict):
    """Many jurisdictions from one GeoJSON file: one per feature, all sharing a catalogue."""

    boundaries = fields.String(required=True)  # GeoJSON file path
    # The feature property whose value, made a slug ("New Haven" -> "new-haven"), is the
    # jurisdiction id; `id_format` puts it in a pattern, e.g. "{}.ct.example".
    id_property = fields.String(required=True, validate=validate.Length(min=1))
    id_format = fields.String(
        load_default="{}",
        validate=_one_placeholder("id"),
    )
    name_property = fields.String(load_default=None, allow_none=True)
    name_format = fields.String(
        load_default="{}",
        validate=_one_placeholder("name"),
    )
    services = fields.List(
        fields.Nested(ServiceSchema), required=True, validate=validate.Length(min=1)
    )
    # Keyed by the generated jurisdiction id.
    overrides = fields.Dict(
        keys=fields.String(), values=fields.Nested(RegionOverrideSchema), load_default=dict
    )


class AreaSchema(_Strict):
    id = fields.String(required=True, validate=[validate.Length(min=1, max=100), CODE])
    file = fields.String(required=True)
    # The feature property that names each feature, so a route can say "towns:Hamden".
    key = fields.String(load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True)


class AppUpdatesSchema(_Strict):
    """What an app's later update (POST servicerequestupdates) may do to the public record.
    Both off by default: a resident's comment is kept for staff, and the status is the
    agency's to set, until the agency says otherwise."""

    public_comments = fields.Boolean(load_default=False)
    status_changes = fields.Boolean(load_default=False)


class AgencySchema(_Strict):
    id = fields.String(required=True, validate=[validate.Length(min=1, max=100), CODE])
    name = fields.String(required=True)
    adapter = fields.String(required=True)
    settings = fields.Dict(keys=fields.String(), load_default=dict)
    # Shared secret for the inbound status webhook; HMAC-SHA256 over the body.
    webhook_secret = fields.String(load_default=None, allow_none=True)
    app_updates = fields.Nested(AppUpdatesSchema, load_default=lambda: AppUpdatesSchema().load({}))


class RouteWhenSchema(_Strict):
    jurisdiction = fields.String(load_default=None)
    services = fields.List(fields.String(), load_default=list)
    groups = fields.List(fields.String(), load_default=list)
    within = fields.List(fields.String(), load_default=list)
    outside = fields.List(fields.String(), load_default=list)
    attributes = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict)

    @pre_load
    def _scalars_as_lists(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("services", "groups", "within", "outside"):
                if isinstance(data.get(key), str):
                    data[key] = [data[key]]
        return data


class RouteSchema(_Strict):
    name = fields.String(load_default=None, allow_none=True)
    when = fields.Nested(RouteWhenSchema, load_default=lambda: RouteWhenSchema().load({}))
    to = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    copy_to = fields.List(fields.String(), load_default=list)

    @pre_load
    def _scalars_as_lists(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("to", "copy_to"):
                if isinstance(data.get(key), str):
                    data[key] = [data[key]]
        return data


class RateLimitSchema(_Strict):
    storage_uri = fields.String(load_default="memory://")
    submit = fields.String(load_default="30 per minute")  # POSTs per key and per address
    read = fields.String(load_default="300 per minute")  # GETs per client address
    sign_in = fields.String(load_default="10 per minute")  # staff sign-in POSTs per address
    # Staff writes (the staff API's and the staff pages' POSTs) per key and per address.
    staff = fields.String(load_default="60 per minute")
    # Status pushed to the webhook, per client address (a back-end's own address).
    webhook = fields.String(load_default="300 per minute")
    enabled = fields.Boolean(load_default=True)


class GatewaySchema(_Strict):
    contact = fields.String(required=True, validate=validate.Length(min=1))
    key_service = fields.String(required=True, validate=validate.Length(min=1))
    default_jurisdiction = fields.String(load_default=None, allow_none=True)
    endpoint_url = fields.Url(load_default=None, allow_none=True, require_tld=False)
    endpoint_type = fields.String(
        load_default="production", validate=validate.OneOf(("production", "test"))
    )
    changeset = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=None)
    rate_limits = fields.Nested(RateLimitSchema, load_default=lambda: RateLimitSchema().load({}))
    # Where a reporter's phone number without a +country code is read as dialled (ISO 3166
    # alpha-2; the catalogue checks that the phone library knows it).
    phone_region = fields.String(
        load_default="US",
        validate=validate.Regexp(r"^[A-Z]{2}$", error="Two capital letters (ISO 3166), e.g. US."),
    )


class NotificationsSchema(_Strict):
    """Updates for the reporter (docs/configuration.md, "notifications"). Each channel's
    settings are read by its notifier (adapters/notify.py) at start-up, as an agency's
    settings are read by its adapter, so a typo there names the key too."""

    # The gateway as residents reach it: the tracking and stop links in every message are
    # made from this, never from the Host header of whichever request caused the change.
    public_url = fields.Url(required=True, require_tld=False, schemes={"http", "https"})
    # The messages' language when the report did not say (the page's language is stored).
    default_language = fields.String(load_default="en", validate=validate.Length(min=2, max=8))
    email = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)
    sms = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)


class ConfigSchema(_Strict):
    gateway = fields.Nested(GatewaySchema, required=True)
    jurisdictions = fields.List(fields.Nested(JurisdictionSchema), load_default=list)
    regions = fields.List(fields.Nested(RegionSchema), load_default=list)
    areas = fields.List(fields.Nested(AreaSchema), load_default=list)
    agencies = fields.List(
        fields.Nested(AgencySchema), required=True, validate=validate.Length(min=1)
    )
    services = fields.List(fields.Nested(ServiceSchema), load_default=list)
    routes = fields.List(fields.Nested(RouteSchema), load_default=list)
    notifications = fields.Nested(NotificationsSchema, load_default=None, allow_none=True)

    class Meta:
        unknown = RAISE

    @pre_load
    def _yaml_datetimes(self, data: Any, **_: Any) -> Any:
        # PyYAML turns an unquoted timestamp into a datetime; the schema wants text.
        gateway = data.get("gateway") if isinstance(data, dict) else None
        if isinstance(gateway, dict) and hasattr(gateway.get("changeset"), "isoformat"):
            data = {**data, "gateway": {**gateway, "changeset": gateway["changeset"].isoformat()}}
        return data

    @validates_schema
    def _references(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, Any] = {}
        jurisdictions = [j["id"] for j in data.get("jurisdictions", [])]
        agencies = [a["id"] for a in data.get("agencies", [])]
        areas = [a["id"] for a in data.get("areas", [])]
        _unique(errors, "jurisdictions", jurisdictions)
        _unique(errors, "agencies", agencies)
        _unique(errors, "areas", areas)
        if not jurisdictions and not data.get("regions"):
            errors["jurisdictions"] = ["Configure at least one jurisdiction (or a region)."]
        gateway = data.get("gateway", {})
        default = gateway.get("default_jurisdiction")
        # A region's ids exist only once its file is read; the catalogue checks those.
        if default is not None and default not in jurisdictions and not data.get("regions"):
            errors.setdefault("gateway", {})["default_jurisdiction"] = [
                f"Unknown jurisdiction {default!r}; known: {', '.join(jurisdictions)}."
            ]
        area_ids = set(areas) | {f"jurisdiction:{j}" for j in jurisdictions}
        seen: set[tuple[str, str]] = set()
        services = data.get("services", [])
        for index, service in enumerate(services):
            problems: dict[str, list[str]] = {}
            jurisdiction = (
                service.get("jurisdiction")
                or (default if default in jurisdictions else None)
                or (jurisdictions[0] if len(jurisdictions) == 1 else None)
            )
            if jurisdiction is None:
                problems["jurisdiction"] = ["Name the jurisdiction (there is no default)."]
            elif jurisdiction not in jurisdictions:
                problems["jurisdiction"] = [f"Unknown jurisdiction {jurisdiction!r}."]
            else:
                service["jurisdiction"] = jurisdiction
                if (jurisdiction, service["code"]) in seen:
                    problems["code"] = [f"Duplicate service code in {jurisdiction}."]
                seen.add((jurisdiction, service["code"]))
            problems.update(_service_references(service, agencies, area_ids))
            if problems:
                errors.setdefault("services", {})[index] = problems
        for index, region in enumerate(data.get("regions", [])):
            problems = _region_references(region, agencies, area_ids)
            if problems:
                errors.setdefault("regions", {})[index] = problems
        codes = {s["code"] for s in services}
        groups = {s.get("group") for s in services}
        for index, route in enumerate(data.get("routes", [])):
            problems = {}
            unknown = [a for a in route["to"] + route["copy_to"] if a not in agencies]
            if unknown:
                problems["to"] = [f"Unknown agency {', '.join(map(repr, unknown))}."]
            when = route["when"]
            if when.get("jurisdiction") and when["jurisdiction"] not in jurisdictions:
                problems["when.jurisdiction"] = [f"Unknown jurisdiction {when['jurisdiction']!r}."]
            bad_codes = [c for c in when["services"] if c not in codes]
            if bad_codes:
                problems["when.services"] = [f"Unknown service {', '.join(map(repr, bad_codes))}."]
            bad_groups = [g for g in when["groups"] if g not in groups]
            if bad_groups:
                problems["when.groups"] = [f"Unknown group {', '.join(map(repr, bad_groups))}."]
            for key in ("within", "outside"):
                bad_areas = [a for a in when[key] if not _known_area(a, area_ids)]
                if bad_areas:
                    problems[f"when.{key}"] = [f"Unknown area {', '.join(map(repr, bad_areas))}."]
            if problems:
                errors.setdefault("routes", {})[index] = problems
        if errors:
            raise ValidationError(errors)


def _service_references(
    service: dict[str, Any], agencies: list[str], area_ids: set[str]
) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if service.get("agency") not in agencies:
        problems["agency"] = [f"Unknown agency {service.get('agency')!r}."]
    area = service.get("area")
    if area not in (None, "anywhere", "jurisdiction") and not _known_area(area, area_ids):
        problems["area"] = [f"Unknown area {area!r}."]
    return problems


def _region_references(
    region: dict[str, Any], agencies: list[str], area_ids: set[str]
) -> dict[str, Any]:
    """A region's catalogue and its towns' overrides name known agencies, areas and codes.
    Whether each override names a feature of the file is checked when the file is read."""
    problems: dict[str, Any] = {}

    def catalogue(key: str, services: list[dict[str, Any]]) -> None:
        codes = [s["code"] for s in services]
        for i, service in enumerate(services):
            found = _service_references(service, agencies, area_ids)
            if service.get("jurisdiction"):
                found["jurisdiction"] = ["A region's services belong to each of its towns."]
            if codes.count(service["code"]) > 1:
                found["code"] = [f"Duplicate service code {service['code']!r}."]
            if found:
                problems.setdefault(key, {})[i] = found

    catalogue("services", region["services"])
    shared = {s["code"] for s in region["services"]}
    for town, override in region["overrides"].items():
        where: dict[str, Any] = {}
        own = {s["code"] for s in override["services"]}
        for code, agency in override["agencies"].items():
            if code not in shared | own:
                where.setdefault("agencies", {})[code] = [f"No service {code!r} in this town."]
            elif agency not in agencies:
                where.setdefault("agencies", {})[code] = [f"Unknown agency {agency!r}."]
        unknown = [c for c in override["without"] if c not in shared]
        if unknown:
            where["without"] = [f"Not in the region's catalogue: {', '.join(map(repr, unknown))}."]
        before = len(problems)
        catalogue("_town", override["services"])
        if len(problems) > before:
            where["services"] = problems.pop("_town")
        if where:
            problems.setdefault("overrides", {})[town] = where
    return problems


def _known_area(name: str, area_ids: set[str]) -> bool:
    """An area id, `jurisdiction:<id>`, or `area:key` naming one feature of an area."""
    return name in area_ids or name.split(":", 1)[0] in area_ids


def _unique(errors: dict[str, Any], key: str, ids: list[str]) -> None:
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        errors[key] = [f"Duplicate id {', '.join(map(repr, duplicates))}."]


__all__ = ["ConfigSchema", "EXCLUDE", "PERSONAL_FIELDS", "DATATYPES"]
