"""GET services.{fmt} and services/{code}.{fmt}: what can be reported, and how."""

from __future__ import annotations

from flask import Blueprint, Response

from schemas.output import (
    ExtendedServiceDefinitionSchema,
    ExtendedServiceSchema,
    ServiceDefinitionSchema,
    ServiceSchema,
)
from schemas.requests import DefinitionQuerySchema, ServicesQuerySchema

from ..errors import APIError
from ..render import answer, to_bytes
from .params import gateway, jurisdiction, load_query

bp = Blueprint("services", __name__)
# Built once: building a schema costs more than loading the query string with it.
_SERVICES_QUERY = ServicesQuerySchema()
_DEFINITION_QUERY = DefinitionQuerySchema()


@bp.get("/services.<any(json, xml):fmt>")
def service_list(fmt: str) -> Response:
    query = load_query(_SERVICES_QUERY)
    # Extension: with a point, only what can be reported there, in the jurisdiction the
    # point picks when none is named (the one a POST from there would go to).
    j = jurisdiction(query.get("jurisdiction_id"), query.get("lat"), query.get("long"))
    gw = gateway()
    names = gw.router.areas_at(query["lat"], query["long"]) if "lat" in query else None
    extended = bool(query.get("extensions"))

    def build() -> bytes:
        services = gw.catalog.services_in(j.id)
        if names is not None:
            services = [s for s in services if gw.router.covers(s, names, located=True)]
        schema = ExtendedServiceSchema if extended else ServiceSchema
        return to_bytes(schema(many=True).dump(services), "services", fmt)

    return answer(gw.once(("services", j.id, names, extended, fmt), build), fmt)


@bp.get("/services/<path:service_code>.<any(json, xml):fmt>")
@bp.get("/service/<path:service_code>.<any(json, xml):fmt>")  # the PyPI open311 client's path
def service_definition(service_code: str, fmt: str) -> Response:
    query = load_query(_DEFINITION_QUERY)
    j = jurisdiction(query.get("jurisdiction_id"))
    gw = gateway()
    service = gw.catalog.service(j.id, service_code)
    if service is None:
        raise APIError(404, f"Unknown service_code in {j.id}. See services.{fmt}.")
    extended = bool(query.get("extensions"))
    schema = ExtendedServiceDefinitionSchema() if extended else ServiceDefinitionSchema()
    key = ("definition", j.id, service.code, extended, fmt)
    return answer(
        gw.once(key, lambda: to_bytes(schema.dump(service), "service_definition", fmt)), fmt
    )
