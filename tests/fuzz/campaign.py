"""A fuzz campaign: schemathesis generates requests from the gateway's own openapi.yaml
(as the app serves it) and calls the WSGI app in-process; every answer must be no server
error and must conform to the description: a described status code, the described
content type, JSON bodies valid against the response schema, XML bodies of the described
shape, described headers.

Most generated values miss everything real (a random `service_code` is a 404), so part of
the cases are steered: ids, codes, jurisdictions and points drawn from the running
configuration, answers to the service's own attributes, and ids and tokens of reports
created earlier in the campaign (a cheap stand-in for stateful links: a report POSTed
is later read, claimed and updated). Every case carries real keys through `api_key`
(a submit key for reports, a staff key for the staff API) and the webhook's body is
signed, so POSTs reach the handlers; negative cases sometimes drop the key.

Used by tests/fuzz/test_fuzz_api.py (a bounded run in the suite) and by `make fuzz`
(`python -m tests.fuzz`, a longer campaign with a printed summary).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from lxml import etree
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from open311 import API_PREFIX
from open311.keys import create_key
from tests.helpers import HAMDEN_CENTRE, HOUSING_PROPERTY, NEW_HAVEN_GREEN, WEST_HAVEN
from tests.support.openapi_shapes import assert_xml_shape, deref, load_spec

STAFF_AGENCY = "nhv-housing-authority"
WEBHOOK_AGENCY = "nhv-public-works"
WEBHOOK_SECRET = "fuzz-webhook-secret"
# A point inside each of the demo's jurisdictions; in New Haven also a housing-authority
# property (tests/helpers.py names the same places).
POINTS = {
    "newhavenct.gov": [NEW_HAVEN_GREEN, HOUSING_PROPERTY],
    "hamdenct.gov": [HAMDEN_CENTRE],
    "westhavenct.gov": [WEST_HAVEN],
}
ALL_POINTS = [point for points in POINTS.values() for point in points]
# From this host (an operator for /readyz and /metrics) or from elsewhere.
CLIENT_ADDRESSES = ["127.0.0.1", "203.0.113.7"]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
XML_MEDIA = "text/xml"


class XmlShapeMismatch(Failure):
    """An XML answer that is not well-formed or not of the described shape."""

    def __init__(self, *, operation: str, message: str) -> None:
        self.operation = operation
        self.title = "XML answer does not match the description"
        self.message = message
        self.case_id = None
        self.code = "xml_shape"
        self.severity = None

    @property
    def _unique_key(self) -> str:
        return self.message


_SPEC = load_spec()


def xml_shape_conformance(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis validates JSON bodies only; XML answers are checked here with the same
    rule tests/docs uses for hand-written calls."""
    media = (response.headers.get("content-type") or [""])[0]
    if not media.startswith(XML_MEDIA):
        return None
    operation = case.operation
    item = _SPEC["paths"][operation.path][operation.method.lower()]
    described = item["responses"].get(str(response.status_code))
    if described is None:
        return None  # status_code_conformance reports it
    schema = deref(_SPEC, described)["content"][XML_MEDIA]["schema"]
    try:
        root = etree.fromstring(
            response.content, etree.XMLParser(resolve_entities=False, no_network=True)
        )
        assert response.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
        assert_xml_shape(_SPEC, root, schema, operation.label)
    except (etree.XMLSyntaxError, AssertionError) as exc:
        raise XmlShapeMismatch(
            operation=operation.label, message=f"{response.status_code}: {exc!r}"[:500]
        ) from None
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    xml_shape_conformance,
]


@dataclass
class Finding:
    operation: str
    mode: str
    status: int | None
    problem: str
    reproduce: str


@dataclass
class Summary:
    examples_per_mode: int
    operations: int = 0
    calls: int = 0
    seconds: float = 0.0
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    findings: list[Finding] = field(default_factory=list)

    def distinct_findings(self) -> list[Finding]:
        seen: dict[tuple[str, str], Finding] = {}
        for finding in self.findings:
            seen.setdefault((finding.operation, finding.problem.splitlines()[0]), finding)
        return list(seen.values())

    def report(self) -> str:
        lines = [
            f"fuzz: {self.operations} operations, {self.examples_per_mode} examples per "
            f"operation and mode (positive, negative), {self.calls} calls in "
            f"{self.seconds:.0f} s, {len(self.distinct_findings())} distinct failures",
        ]
        for label, counts in sorted(self.statuses.items()):
            shown = " ".join(f"{code}x{n}" for code, n in sorted(counts.items()))
            lines.append(f"  {label}: {shown}")
        for finding in self.distinct_findings():
            lines.append(f"FAIL {finding.operation} [{finding.mode}] {finding.status}")
            lines.append("    " + finding.problem.replace("\n", "\n    "))
            lines.append("    " + finding.reproduce)
        return "\n".join(lines)


class Pools:
    """Real values to steer generated cases to: what the configuration serves, and what
    the campaign created so far."""

    def __init__(self, app: Any) -> None:
        catalog = app.extensions["open311"].catalog
        self.catalog = catalog
        self.jurisdictions = sorted(catalog.jurisdictions)
        self.services = sorted(catalog.services.values(), key=lambda s: (s.jurisdiction, s.code))
        self.agencies = sorted(catalog.agencies)
        self.ids: list[str] = []
        self.staff_ids: list[str] = []
        self.tokens: list[str] = []
        with app.extensions["open311"].db.write() as session, session.begin():
            self.submit_key = create_key(session, "fuzz-app", "submit", None)
            self.staff_key = create_key(session, "fuzz-staff", "staff", STAFF_AGENCY)

    def seed(self, app: Any) -> None:
        """One ordinary report per service, so reads, tokens and the staff API have
        something real to find from the first case on."""
        client = app.test_client()
        for service in self.services:
            answers = {
                _attribute_key(attribute): _plain_answer(attribute)
                for attribute in service.attributes
            }
            lat, long = POINTS[service.jurisdiction][-1]
            response = client.post(
                f"{API_PREFIX}/requests.json",
                data={
                    "api_key": self.submit_key,
                    "service_code": service.code,
                    "jurisdiction_id": service.jurisdiction,
                    "lat": lat,
                    "long": long,
                    "email": "resident@example.org",
                    "description": "Seeded by the fuzz campaign",
                    **answers,
                },
            )
            assert response.status_code == 200, (service.code, response.data[:300])
            self.remember(service.code, ".json", response.data)
        assert self.staff_ids, "no seeded report reached the staff agency"

    def remember(self, service_code: Any, fmt: str, body: bytes) -> None:
        """The id and token from the answer to a POST of a report, for later cases."""
        if fmt == ".json":
            created = json.loads(body)[0]
            report_id, token = created.get("service_request_id"), created.get("token")
        else:
            root = etree.fromstring(body, etree.XMLParser(resolve_entities=False))
            report_id = root.findtext("request/service_request_id")
            token = root.findtext("request/token")
        if report_id:
            self.ids.append(report_id)
            if any(s.code == service_code and s.agency == STAFF_AGENCY for s in self.services):
                self.staff_ids.append(report_id)
        if token:
            self.tokens.append(token)

    def remember_answer(self, case: Any, response: Any) -> None:
        if case.method != "POST" or response.status_code != 200:
            return
        if not case.path.endswith(("/requests.json", "/requests.xml")):
            return
        code = case.body.get("service_code") if isinstance(case.body, dict) else None
        self.remember(code, case.path[-5:], response.content)


def _attribute_key(attribute: Any) -> str:
    suffix = "[]" if attribute.datatype == "multivaluelist" else ""
    return f"attribute[{attribute.code}]{suffix}"


def _plain_answer(attribute: Any) -> str:
    if attribute.values:
        return str(attribute.values[0].key)
    return {"number": "1", "datetime": "2026-11-20T10:00:00Z"}.get(attribute.datatype, "fuzz")


def _attribute_answers(draw: Any, service: Any) -> dict[str, Any]:
    """Valid answers to the service's required attributes and to some optional ones."""
    answers: dict[str, Any] = {}
    for attribute in service.attributes:
        if not attribute.required and draw(st.booleans()):
            continue
        key = f"attribute[{attribute.code}]"
        if attribute.datatype == "singlevaluelist" and attribute.values:
            answers[key] = draw(st.sampled_from([v.key for v in attribute.values]))
        elif attribute.datatype == "multivaluelist" and attribute.values:
            keys = [v.key for v in attribute.values]
            answers[key + "[]"] = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3))
        elif attribute.datatype == "number":
            answers[key] = str(draw(st.integers(-5, 500)))
        elif attribute.datatype == "datetime":
            answers[key] = "2026-11-20T10:00:00Z"
        else:
            answers[key] = draw(st.text(min_size=1, max_size=40))
    return answers


_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r")


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return value.translate(_CONTROL)
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def _maybe(draw: Any, values: list[Any]) -> Any:
    """A real value half the time (when there is one), else None (keep the generated)."""
    if values and draw(st.booleans()):
        return draw(st.sampled_from(values))
    return None


def steer(draw: Any, case: Any, pools: Pools, positive: bool, real_values: bool) -> None:
    """In place: the key (always in positive cases, mostly in negative ones) and, with
    `real_values` (three cases in four), some generated values replaced by real ones."""
    path = case.operation.path
    params = dict(case.path_parameters or {})
    query = dict(case.query or {})
    service = _maybe(draw, pools.services) if real_values else None
    real = {
        "service_code": service.code if service else None,
        "jurisdiction_id": service.jurisdiction if service else None,
        "service_request_id": _maybe(draw, pools.ids),
        "public_id": _maybe(draw, pools.staff_ids or pools.ids),
        "token": _maybe(draw, pools.tokens),
        "agency_id": WEBHOOK_AGENCY,
    }
    if not real_values:
        real = {}
    for name in params:
        if real.get(name) is not None:
            params[name] = real[name]
    for name in ("service_code", "jurisdiction_id"):
        if name in query and real.get(name) is not None:
            query[name] = real[name]
    if "agency" in query and real_values and draw(st.integers(0, 3)):
        query["agency"] = STAFF_AGENCY
    points = POINTS.get(service.jurisdiction, ALL_POINTS) if service else ALL_POINTS
    point = draw(st.sampled_from(points)) if real_values else None
    if point is not None and ("lat" in query or "long" in query):
        query["lat"], query["long"] = point
    keep_key = positive or draw(st.integers(0, 3))
    if keep_key:
        query["api_key"] = pools.staff_key if "/staff/" in path else pools.submit_key
    if isinstance(case.body, dict) and path.endswith(("/requests.json", "/requests.xml")):
        body = dict(case.body)
        if service is not None:
            body["service_code"] = service.code
            body["jurisdiction_id"] = service.jurisdiction
            if draw(st.booleans()):
                body.update(_attribute_answers(draw, service))
        if point is not None:
            body["lat"], body["long"] = point
            # Control characters are refused (a described 400); steered cases should get
            # further than that.
            body = {k: _printable(v) for k, v in body.items()}
        if keep_key:
            body.pop("api_key", None)
        case.body = body
    case.path_parameters = params or case.path_parameters
    case.query = query


def _call(case: Any, client_address: str) -> Any:
    """The webhook is signed over the exact bytes sent: serialize here, then sign. The
    client's address decides who is an operator (/readyz, /metrics)."""
    environ = {"environ_base": {"REMOTE_ADDR": client_address}}
    if "/agencies/" in case.operation.path and case.body is not None:
        try:
            raw = json.dumps(case.body).encode()
        except (TypeError, ValueError):
            return case.call(**environ)
        digest = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        headers = {"X-Open311-Signature": f"sha256={digest}"}
        return case.call(data=raw, headers=headers, **environ)
    return case.call(**environ)


def run_campaign(app: Any, examples: int, seed: int | None = None) -> Summary:
    """Every described operation, `examples` cases in each generation mode."""
    schema = schemathesis.openapi.from_wsgi("/openapi.yaml", app)
    pools = Pools(app)
    pools.seed(app)
    summary = Summary(examples_per_mode=examples)
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        summary.operations += 1
        for mode in MODES:
            _fuzz_operation(operation, mode, examples, pools, summary, seed)
    summary.seconds = time.monotonic() - started
    return summary


def _fuzz_operation(
    operation: Any, mode: Any, examples: int, pools: Pools, summary: Summary, seed: int | None
) -> None:
    positive = mode == schemathesis.GenerationMode.POSITIVE

    @st.composite
    def cases(draw: Any) -> Any:
        case = draw(operation.as_strategy(generation_mode=mode))
        steer(draw, case, pools, positive, real_values=draw(st.integers(0, 3)) > 0)
        return case, draw(st.sampled_from(CLIENT_ADDRESSES))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        print_blob=False,
    )
    @given(drawn=cases())
    def one(drawn: tuple[Any, str]) -> None:
        case, client_address = drawn
        response = _call(case, client_address)
        summary.calls += 1
        summary.statuses[operation.label][response.status_code] += 1
        pools.remember_answer(case, response)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Failure, BaseExceptionGroup) as exc:
            problems = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
            for problem in problems:
                summary.findings.append(
                    Finding(
                        operation=operation.label,
                        mode=mode.value,
                        status=response.status_code,
                        problem=f"{getattr(problem, 'title', type(problem).__name__)}\n"
                        f"{getattr(problem, 'message', str(problem))}"[:1500],
                        reproduce=case.as_curl_command()[:1500],
                    )
                )

    if seed is not None:
        from hypothesis import seed as with_seed

        one = with_seed(seed)(one)
    try:
        one()
    except Unsatisfiable:
        if positive:
            raise
        # Nothing to send wrong: an operation without parameters or body (/healthz).
