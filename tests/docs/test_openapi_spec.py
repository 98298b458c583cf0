"""openapi.yaml: valid OpenAPI 3.1, served as is, and in step with the app and its schemas.

The schemas in `schemas/` are the source of truth for parameters and fields; these tests
fail when one of them changes and the description does not follow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree
from marshmallow import Schema
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from open311 import API_PREFIX, create_app
from open311.keys import create_key
from schemas import admin as admin_schemas
from schemas import output as out_schemas
from schemas import requests as in_schemas
from schemas import staff as staff_schemas
from tests.support.openapi_shapes import assert_xml_shape, demo_config_copy, deref, properties

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL_SPEC = REPO / "openapi.yaml"

METHODS = ("get", "post", "put", "patch", "delete")
# Outside the GeoReport base, one path each, JSON (metrics: Prometheus text), never limited.
OPS_PATHS = ("/healthz", "/readyz", "/metrics")
FORMATS = ("json", "xml")
MEDIA = {"json": "application/json", "xml": "text/xml"}
COMPONENT_SCHEMAS = (
    "Service",
    "ServiceDefinition",
    "Attribute",
    "Request",
    "CreatedRequest",
    "Token",
    "Discovery",
    "Error",
    "RequestUpdate",
)


# --- helpers ------------------------------------------------------------------------


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def rule_paths(rule: str) -> list[str]:
    """A Flask rule as the concrete OpenAPI paths it serves: `<any(json, xml):fmt>` becomes
    one path per alternative, other variables `{name}`."""
    paths = [""]
    for literal, variable in re.findall(r"([^<]*)(?:<([^>]+)>)?", rule):
        paths = [p + literal for p in paths]
        if not variable:
            continue
        converter, _, name = variable.rpartition(":")
        choice = re.fullmatch(r"any\((.*)\)", converter)
        if choice:
            options = [o.strip().strip("'\"") for o in choice.group(1).split(",")]
            paths = [p + o for p in paths for o in options]
        else:
            paths = [p + "{" + name + "}" for p in paths]
    return paths


def app_routes(app: Any) -> dict[str, set[str]]:
    """Concrete path -> methods for every rule under the GeoReport base and discovery."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not (
            rule.rule.startswith(API_PREFIX + "/")
            or rule.rule.startswith("/discovery.")
            or rule.rule in OPS_PATHS
        ):
            continue
        methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
        for path in rule_paths(rule.rule):
            routes.setdefault(path, set()).update(methods)
    return routes


def field_names(schema: Schema, dump: bool) -> set[str]:
    fields = schema.dump_fields if dump else schema.load_fields
    return {f.data_key or name for name, f in fields.items()}


# --- the document itself ------------------------------------------------------------


def test_top_level_file_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1.")
    validate(spec)


def test_package_copy_is_the_top_level_file() -> None:
    packaged = REPO / "open311" / "openapi.yaml"
    assert packaged.is_symlink(), "open311/openapi.yaml must stay a symlink to ../openapi.yaml"
    assert packaged.resolve() == TOP_LEVEL_SPEC.resolve()


def test_required_components(spec: dict[str, Any]) -> None:
    missing = set(COMPONENT_SCHEMAS) - set(spec["components"]["schemas"])
    assert not missing


def test_operation_ids_unique(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))


# Paths with one format only: GeoJSON and CSV, whose errors are the JSON error list.
SINGLE_FORMAT = {
    f"{API_PREFIX}/jurisdictions.geojson": "application/geo+json",
    f"{API_PREFIX}/requests.geojson": "application/geo+json",
    f"{API_PREFIX}/requests.csv": "text/csv",
}
EXPORTS = (f"{API_PREFIX}/requests.csv", f"{API_PREFIX}/requests.geojson")


def test_each_format_its_own_path_and_media_type(spec: dict[str, Any]) -> None:
    for path, method, op in operations(spec):
        if path in OPS_PATHS:
            continue
        if path in SINGLE_FORMAT:
            for status, response in op["responses"].items():
                content = set(deref(spec, response).get("content", {}))
                wanted = {SINGLE_FORMAT[path]} if status == "200" else {MEDIA["json"]}
                assert content == (set() if status == "304" else wanted), (path, status)
            continue
        fmt = Path(path).suffix.lstrip(".")
        assert fmt in FORMATS, path
        twin = path[: -len(fmt)] + ("xml" if fmt == "json" else "json")
        assert method in spec["paths"].get(twin, {}), f"{path} has no {twin} twin"
        for status, response in op["responses"].items():
            content = deref(spec, response).get("content", {})
            assert set(content) == {MEDIA[fmt]}, (path, method, status, list(content))


def test_every_error_is_the_open311_error_list(spec: dict[str, Any]) -> None:
    for path, method, op in operations(spec):
        codes = set(op["responses"])
        if path in OPS_PATHS:
            assert {"405", "500"} <= codes and "429" not in codes, (path, method)
            continue
        assert {"405", "429", "500", "503"} <= codes, (path, method)
        if method == "post":
            assert {"400", "403", "413"} <= codes, (path, method)
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                (media,) = deref(spec, response)["content"].values()
                assert media["schema"] == {"$ref": "#/components/schemas/ErrorList"}


def test_error_list_xml_shape(spec: dict[str, Any]) -> None:
    errors = spec["components"]["schemas"]["ErrorList"]
    assert errors["type"] == "array"
    assert errors["xml"] == {"name": "errors", "wrapped": True}
    assert deref(spec, errors["items"])["xml"] == {"name": "error"}


def test_attribute_keys_are_an_open_pattern(spec: dict[str, Any]) -> None:
    form = spec["components"]["schemas"]["CreateRequestForm"]
    (pattern,) = form["patternProperties"]
    for key in ("attribute[WHAT]", "attribute[BLOCKING][]", "attribute[BLOCKING][0]"):
        assert re.search(pattern, key), key
    assert not re.search(pattern, "attribute[]")
    post = spec["paths"][f"{API_PREFIX}/requests.json"]["post"]["requestBody"]["content"]
    assert {"application/x-www-form-urlencoded", "multipart/form-data"} <= set(post)


def test_json_examples_match_their_schemas(spec: dict[str, Any]) -> None:
    checked = 0
    for path, method, op in operations(spec):
        for response in op["responses"].values():
            for media_type, media in deref(spec, response).get("content", {}).items():
                if media_type not in ("application/json", "application/geo+json"):
                    continue
                examples = [e["value"] for e in media.get("examples", {}).values()]
                examples += [media["example"]] if "example" in media else []
                for example in examples:
                    assert_valid(spec, example, media["schema"], f"{method} {path}")
                    checked += 1
    assert checked > 30


# --- the description and the app ----------------------------------------------------


def test_every_route_is_described(spec: dict[str, Any], docs_app: Any) -> None:
    described = {(p, m) for p, m, _ in operations(spec)}
    routes = app_routes(docs_app)
    assert len(routes) >= 26
    for path, methods in routes.items():
        for method in methods:
            assert (path, method) in described, f"{method.upper()} {path} is not described"


def test_every_described_route_exists(spec: dict[str, Any], docs_app: Any) -> None:
    routes = app_routes(docs_app)
    for path, method, _ in operations(spec):
        assert method in routes.get(path, set()), f"{method.upper()} {path} is not served"


def _param_names(spec: dict[str, Any], path: str, method: str = "get") -> set[str]:
    op = spec["paths"][path][method]
    return {deref(spec, p)["name"] for p in op.get("parameters", [])}


@pytest.mark.parametrize("fmt", FORMATS)
def test_query_parameters_follow_the_input_schemas(spec: dict[str, Any], fmt: str) -> None:
    cases = [
        (in_schemas.RequestQuerySchema(), f"{API_PREFIX}/requests.{fmt}"),
        (in_schemas.ServicesQuerySchema(), f"{API_PREFIX}/services.{fmt}"),
        (in_schemas.UpdatesQuerySchema(), f"{API_PREFIX}/servicerequestupdates.{fmt}"),
        (
            in_schemas.RequestQuerySchema(only=("jurisdiction_id", "extensions")),
            f"{API_PREFIX}/requests/{{service_request_id}}.{fmt}",
        ),
        (staff_schemas.StaffQuerySchema(), f"{API_PREFIX}/staff/requests.{fmt}"),
    ]
    for schema, path in cases:
        missing = field_names(schema, dump=False) - _param_names(spec, path)
        assert not missing, (path, missing)


@pytest.mark.parametrize("path", EXPORTS)
def test_export_parameters_are_the_listing_s_but_extensions(
    spec: dict[str, Any], path: str
) -> None:
    listing = _param_names(spec, f"{API_PREFIX}/requests.json") - {"extensions"}
    assert _param_names(spec, path) == listing | {"api_key"}


def test_export_properties_are_the_plain_request_fields(spec: dict[str, Any]) -> None:
    from open311.exports import FIELDS

    feature = spec["components"]["schemas"]["RequestFeature"]
    assert feature["properties"]["properties"]["allOf"][0] == {"$ref": component_ref("Request")}
    assert set(FIELDS) == field_names(out_schemas.RequestSchema(), dump=True)
    assert set(spec["components"]["schemas"]["Request"]["required"]) == set(FIELDS)


@pytest.mark.parametrize(
    ("schema", "component"),
    [
        (in_schemas.CreateRequestSchema(), "CreateRequestForm"),
        (in_schemas.PostUpdateSchema(), "UpdateForm"),
        (staff_schemas.StatusChangeSchema(), "StatusChange"),
        (staff_schemas.WebhookUpdateSchema(), "WebhookUpdate"),
        (staff_schemas.WebhookSchema(), "WebhookPayload"),
    ],
)
def test_bodies_follow_the_input_schemas(
    spec: dict[str, Any], schema: Schema, component: str
) -> None:
    described = set(spec["components"]["schemas"][component]["properties"])
    assert field_names(schema, dump=False) <= described
    assert described - field_names(schema, dump=False) <= {"api_key"}


@pytest.mark.parametrize(
    ("schema", "component"),
    [
        (out_schemas.DiscoverySchema(), "Discovery"),
        (out_schemas.DiscoveryEndpointSchema(), "DiscoveryEndpoint"),
        (out_schemas.ExtendedServiceSchema(), "Service"),
        (out_schemas.CoverageSchema(), "Coverage"),
        (out_schemas.CoverageFeatureSchema(), "CoverageFeature"),
        (out_schemas.CoveragePropertiesSchema(), "CoverageProperties"),
        (out_schemas.AttributeOutSchema(), "Attribute"),
        (out_schemas.ValueOutSchema(), "AttributeValue"),
        (out_schemas.CreatedSchema(), "CreatedRequest"),
        (out_schemas.TokenSchema(), "Token"),
        (out_schemas.ExtendedRequestSchema(), "Request"),
        (out_schemas.NoteSchema(), "Note"),
        (out_schemas.followed_private_schema(extensions=True), "FollowedRequest"),
        (out_schemas.RequestUpdateSchema(), "RequestUpdate"),
        (out_schemas.UpdateCreatedSchema(), "UpdateCreated"),
        (out_schemas.ErrorSchema(), "Error"),
        (staff_schemas.StaffReportSchema(), "StaffReport"),
        (staff_schemas.ContactOutSchema(), "Reporter"),
        (admin_schemas.DestinationStatusOutSchema(), "DestinationStatus"),
    ],
)
def test_output_fields_follow_the_output_schemas(
    spec: dict[str, Any], schema: Schema, component: str
) -> None:
    assert field_names(schema, dump=True) == set(
        properties(spec, {"$ref": component_ref(component)})
    )


def test_definition_extension_follows_its_schemas(spec: dict[str, Any]) -> None:
    definition = properties(spec, {"$ref": component_ref("ServiceDefinition")})
    plain = field_names(out_schemas.ServiceDefinitionSchema(), dump=True)
    assert plain | {"contact"} == set(definition)
    query = getattr(in_schemas, "DefinitionQuerySchema", None)
    extended = getattr(out_schemas, "ExtendedServiceDefinitionSchema", None)
    if query is None or extended is None:
        pytest.skip("the service definition has no extensions in this version")
    for fmt in FORMATS:
        path = f"{API_PREFIX}/services/{{service_code}}.{fmt}"
        assert field_names(query(), dump=False) <= _param_names(spec, path)
    assert field_names(extended(), dump=True) == set(definition)
    contact = properties(spec, {"$ref": component_ref("ContactRule")})
    assert field_names(out_schemas.ContactRuleOutSchema(), dump=True) == set(contact)


def test_plain_request_fields_are_all_required(spec: dict[str, Any]) -> None:
    request = spec["components"]["schemas"]["Request"]
    assert set(request["required"]) == field_names(out_schemas.RequestSchema(), dump=True)
    service = spec["components"]["schemas"]["Service"]
    assert set(service["required"]) == field_names(out_schemas.ServiceSchema(), dump=True)


def component_ref(name: str) -> str:
    return f"#/components/schemas/{name}"


# --- real answers against the description --------------------------------------------


def assert_valid(spec: dict[str, Any], instance: Any, schema: dict[str, Any], where: str) -> None:
    root = {**schema, "components": spec["components"]}
    errors = sorted(OAS31Validator(root).iter_errors(instance), key=str)
    assert not errors, f"{where}: {errors[0].message} at {list(errors[0].absolute_path)}"


def check_answer(
    spec: dict[str, Any], response: Any, path: str, method: str, fmt: str, where: str
) -> None:
    status = str(response.status_code)
    item = spec["paths"][path]
    op = item.get(method) or next(iter(item[m] for m in METHODS if m in item))
    assert status in op["responses"], f"{where}: status {status} is not described"
    media = deref(spec, op["responses"][status])["content"][MEDIA[fmt]]
    assert response.mimetype == MEDIA[fmt], where
    if fmt == "json":
        assert_valid(spec, response.get_json(), media["schema"], where)
    else:
        element = etree.fromstring(response.data, etree.XMLParser(resolve_entities=False))
        assert_xml_shape(spec, element, media["schema"], where)


@pytest.mark.parametrize("fmt", FORMATS)
def test_real_answers_match_the_description(
    spec: dict[str, Any], docs_client: Any, submit_key: str, fmt: str
) -> None:
    here = (41.3083, -72.9279)
    base = API_PREFIX
    created: dict[str, Any] = {}

    def call(method: str, url: str, path: str, expect: int = 200, **kw: Any) -> Any:
        response = getattr(docs_client, method)(url, **kw)
        assert response.status_code == expect, (method, url, response.data[:300])
        check_answer(spec, response, path, method, fmt, f"{method.upper()} {url}")
        return response

    def post(code: str, expect: int = 200, **fields: Any) -> Any:
        data = {"api_key": submit_key, "service_code": code, "lat": here[0], "long": here[1]}
        data = {k: v for k, v in {**data, **fields}.items() if v is not None}
        return call("post", f"{base}/requests.{fmt}", f"{base}/requests.{fmt}", expect, data=data)

    call("get", f"/discovery.{fmt}", f"/discovery.{fmt}")
    call("get", f"{base}/discovery.{fmt}", f"{base}/discovery.{fmt}")
    call("get", f"{base}/services.{fmt}", f"{base}/services.{fmt}")
    call("get", f"{base}/services.{fmt}?lat={here[0]}&long={here[1]}", f"{base}/services.{fmt}")
    for code, expect in (
        ("ILLEGAL_DUMPING", 200),
        ("SNOW_REMOVAL", 200),
        ("ZONING?extensions=true", 200),
        ("NOPE", 404),
    ):
        name, _, query = code.partition("?")
        call(
            "get",
            f"{base}/services/{name}.{fmt}" + (f"?{query}" if query else ""),
            f"{base}/services/{{service_code}}.{fmt}",
            expect,
        )
    call("get", f"{base}/service/POTHOLE.{fmt}", f"{base}/service/{{service_code}}.{fmt}")
    realtime = post(
        "ILLEGAL_DUMPING",
        **{"attribute[WHAT]": "tires", "attribute[BLOCKING][]": ["sidewalk", "street"]},
    )
    batch = post("ZONING", description="A garage used as a car repair shop", email="a@b.example")
    post("GRAFFITI")
    post("POTHOLE", api_key=None, expect=403)
    post("ILLEGAL_DUMPING", expect=400)
    post("NOPE", expect=404)
    post("POTHOLE", description="x" * (3 * 1024 * 1024), expect=413)
    if fmt == "json":
        created["id"] = realtime.get_json()[0]["service_request_id"]
        created["token"] = batch.get_json()[0]["token"]
    else:
        created["id"] = etree.fromstring(realtime.data).findtext("request/service_request_id")
        created["token"] = etree.fromstring(batch.data).findtext("request/token")
    requests_path = f"{base}/requests.{fmt}"
    call("get", requests_path, requests_path)
    call("get", f"{requests_path}?extensions=true&page=1&page_size=5", requests_path)
    call("get", f"{requests_path}?status=pending", requests_path, expect=400)
    call("get", f"{requests_path}?jurisdiction_id=nowhere.example", requests_path, expect=404)
    one = f"{base}/requests/{{service_request_id}}.{fmt}"
    call("get", f"{base}/requests/{created['id']}.{fmt}?extensions=true", one)
    call("get", f"{base}/requests/NHV-999999.{fmt}", one, expect=404)
    token = f"{base}/tokens/{{token}}.{fmt}"
    call("get", f"{base}/tokens/{created['token']}.{fmt}", token)
    call("get", f"{base}/tokens/unknown.{fmt}", token, expect=404)
    call("delete", f"{base}/services.{fmt}", f"{base}/services.{fmt}", expect=405)
    for export in EXPORTS:
        for query, expect in (("", 200), ("?status=pending", 400), ("?service_code=NOPE", 404)):
            got = docs_client.get(export + query)
            assert got.status_code == expect, (export, query, got.data[:300])
            described = spec["paths"][export]["get"]["responses"][str(expect)]
            (media,) = deref(spec, described)["content"]
            assert got.mimetype == media, (export, query)
            if media != "text/csv":
                schema = deref(spec, described)["content"][media]["schema"]
                assert_valid(spec, got.get_json(force=True), schema, f"GET {export}{query}")
    coverage = f"{base}/jurisdictions.geojson"
    answer = docs_client.get(coverage)
    assert answer.status_code == 200 and answer.mimetype == SINGLE_FORMAT[coverage]
    media = spec["paths"][coverage]["get"]["responses"]["200"]["content"][SINGLE_FORMAT[coverage]]
    assert_valid(spec, answer.get_json(), media["schema"], f"GET {coverage}")


def test_served_yaml_is_the_top_level_file(docs_client: Any) -> None:
    response = docs_client.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.mimetype in ("application/yaml", "text/yaml")
    assert response.data == TOP_LEVEL_SPEC.read_bytes()
    validate(yaml.safe_load(response.data))
    again = docs_client.get("/openapi.yaml", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def _key(app: Any, name: str, role: str = "submit", agency: str | None = None) -> str:
    with app.extensions["open311"].db.write() as session, session.begin():
        return create_key(session, name, role, agency)


@pytest.fixture
def webhook_app(db_url: str, tmp_path: Path) -> Iterator[Any]:
    """The demo configuration with a webhook secret for the public-works agency."""
    path = demo_config_copy(tmp_path, {"nhv-public-works": "s3cret"})
    app = create_app({"DATABASE_URL": db_url, "CONFIG": str(path), "TESTING": True})
    yield app
    app.extensions["open311"].db.dispose()


@pytest.mark.parametrize("fmt", FORMATS)
def test_staff_updates_and_webhook_answers_match_the_description(
    spec: dict[str, Any], webhook_app: Any, fmt: str
) -> None:
    import hashlib
    import hmac
    import json

    client = webhook_app.test_client()
    base = API_PREFIX
    submit = _key(webhook_app, "app")
    works = _key(webhook_app, "lee", "staff", "nhv-public-works")
    other = _key(webhook_app, "sam", "staff", "nhv-public-works")

    def call(method: str, url: str, path: str, expect: int = 200, **kw: Any) -> Any:
        response = getattr(client, method)(url, **kw)
        assert response.status_code == expect, (method, url, response.data[:300])
        check_answer(spec, response, path, method, fmt, f"{method.upper()} {url}")
        return response

    created = client.post(
        f"{base}/requests.json",
        data={"api_key": submit, "service_code": "POTHOLE", "lat": 41.3083, "long": -72.9279},
    ).get_json()[0]["service_request_id"]
    staff = {"X-API-Key": works}
    listing = f"{base}/staff/requests.{fmt}"
    call("get", listing, listing, headers=staff)
    call(
        "get",
        f"{listing}?status=all&limit=5",
        listing,
        headers={"Authorization": f"Bearer {works}"},
    )
    call("get", listing, listing, headers={"X-API-Key": submit}, expect=403)
    call("get", f"{listing}?limit=0", listing, headers=staff, expect=400)
    claim = f"{base}/staff/requests/{{public_id}}/claim.{fmt}"
    call("post", f"{base}/staff/requests/{created}/claim.{fmt}", claim, headers=staff)
    mine = f"{base}/staff/requests/{created}/claim.{fmt}"
    call("post", mine, claim, headers={"X-API-Key": other}, expect=409)
    call("post", f"{base}/staff/requests/NHV-0/claim.{fmt}", claim, headers=staff, expect=404)
    status = f"{base}/staff/requests/{{public_id}}/status.{fmt}"
    change = {"status": "open", "detailed_status": "in_progress", "status_notes": "Crew booked."}
    url = f"{base}/staff/requests/{created}/status.{fmt}"
    call("post", url, status, headers=staff, json=change)
    call("post", url, status, headers=staff, data={**change, "expected_datetime": "2026-12-01"})
    call("post", url, status, headers=staff, json={"status": "fixed"}, expect=400)
    feed = f"{base}/servicerequestupdates.{fmt}"
    call("get", feed, feed)
    call("get", f"{feed}?start_date=2000-01-01T00:00:00Z&end_date=2100-01-01", feed)
    call("get", f"{feed}?start_date=never", feed, expect=400)
    hook = f"{base}/agencies/{{agency_id}}/updates.{fmt}"
    body = json.dumps(
        {
            "updates": [
                {
                    "service_request_id": created,
                    "status": "closed",
                    "updated_datetime": "2099-01-01T00:00:00Z",
                    "update_id": "u-1",
                }
            ]
        }
    ).encode()
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    url = f"{base}/agencies/nhv-public-works/updates.{fmt}"
    json_type = {"Content-Type": "application/json"}
    call("post", url, hook, data=body, headers={**json_type, "X-Open311-Signature": good})
    call(
        "post", url, hook, 403, data=body, headers={**json_type, "X-Open311-Signature": "sha256=0"}
    )
    empty = b'{"updates": []}'
    signed = "sha256=" + hmac.new(b"s3cret", empty, hashlib.sha256).hexdigest()
    call("post", url, hook, 400, data=empty, headers={**json_type, "X-Open311-Signature": signed})
