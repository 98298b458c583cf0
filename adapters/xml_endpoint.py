"""Deliver reports to a legacy XML or SOAP-style endpoint.

The request body is the operator's own template (`string.Template`, `$description` and
so on) so that any envelope the back-end expects can be written without code. Every value
is XML-escaped before it goes in, so a description cannot break out of its element; the
answers are read with XPath through a parser that refuses entity tricks (see safexml).
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import requests
from lxml import etree
from marshmallow import ValidationError, fields, post_load, pre_load, validates_schema

from adapters.base import (
    DeliveryError,
    PermanentFailure,
    Receipt,
    TemporaryFailure,
    Ticket,
)
from adapters.common import TEXT_FIELDS, ticket_text_fields
from adapters.http import Headers, HttpAdapter, HttpSettingsSchema, failure_for_response
from adapters.safexml import compile_xpath, parse_xml, xpath_text
from adapters.settings import Choice, DollarTemplate, HttpUrl, Text, TextList, TextMap
from adapters.status import ReadsStatus, Said, StatusReader, StatusSettingsSchema
from schemas.xmltext import xml_safe

log = logging.getLogger(__name__)

# Escape quotes too, so a placeholder is safe inside an attribute value as well.
_ENTITIES = {'"': "&quot;", "'": "&apos;"}
# Answers whose status says "infrastructure trouble" stay temporary even when the body
# carries a fault: a proxy's 503 page is not the back-end refusing the report.
_INFRASTRUCTURE_STATUSES = frozenset({408, 429, 502, 503, 504})
ATTRIBUTE_PREFIX = "attribute_"
# Every $name a submission template may use (besides $attribute_CODE).
TEMPLATE_FIELDS = (*TEXT_FIELDS, "attributes_xml")
# Before the status: block, these were flat keys; each is refused naming its new place.
MOVED_TO_STATUS = {
    "status_url": "url",
    "status_template": "template",
    "status_headers": "headers",
    "status_xpath": "status_xpath",
    "updated_xpath": "updated_xpath",
    "notes_xpath": "notes_xpath",
    "value_map": "value_map",
    "detailed_status": "detailed_status",
}


def xml_text(value: str) -> str:
    return escape(xml_safe(value), _ENTITIES)


def xml_attr(value: str) -> str:
    """A quoted attribute value (quotes included)."""
    return quoteattr(xml_safe(value))


class XmlStatusSchema(StatusSettingsSchema):
    """`status:` for xml: `url` (with `{backend_id}` unless `template` is given), a SOAP
    `template` to POST, extra `headers`, and XPaths into the answer."""

    template = DollarTemplate(("backend_id",))
    headers = Headers(load_default=dict)
    status_xpath = Text(required=True)
    updated_xpath = Text()
    notes_xpath = Text()

    @validates_schema
    def _url(self, data: dict[str, Any], **_: Any) -> None:
        if "url" not in data:
            raise ValidationError("Missing data for required field.", "url")
        if "template" not in data and "{backend_id}" not in data["url"]:
            raise ValidationError("Must contain {backend_id} when there is no template.", "url")


class XmlSettings(HttpSettingsSchema):
    url = HttpUrl(required=True)
    method = Choice(("post", "put"), load_default="post")
    template = DollarTemplate(TEMPLATE_FIELDS, prefix=ATTRIBUTE_PREFIX, required=True)
    namespaces = TextMap(load_default=dict)
    id_xpath = Text(required=True)
    fault_xpath = Text()
    retryable_faults = TextList(load_default=list)
    status = fields.Nested(XmlStatusSchema, load_default=None)

    @pre_load
    def _moved_keys(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping):
            moved = {
                old: [f"Moved: write status.{new} (the status: block)."]
                for old, new in MOVED_TO_STATUS.items()
                if old in data
            }
            if moved:
                raise ValidationError(moved)
        return data

    @post_load
    def _compiled(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """XPaths compiled with the namespaces (a bad one or an unknown prefix fails here,
        not on the first answer) and fault patterns compiled."""
        errors: dict[str, Any] = {}

        def compiled(block: dict[str, Any], key: str, where: dict[str, Any]) -> None:
            if block.get(key) is None:
                return
            try:
                block[key] = compile_xpath(block[key], data["namespaces"])
            except ValueError as exc:
                where[key] = [f"Not a usable XPath: {exc}."]

        for key in ("id_xpath", "fault_xpath"):
            compiled(data, key, errors)
        if data["status"] is not None:
            status_errors: dict[str, Any] = {}
            for key in ("status_xpath", "updated_xpath", "notes_xpath"):
                compiled(data["status"], key, status_errors)
            if status_errors:
                errors["status"] = status_errors
        patterns = []
        for index, pattern in enumerate(data["retryable_faults"]):
            try:
                patterns.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                errors.setdefault("retryable_faults", {})[index] = [f"Not a pattern: {exc}."]
        data["retryable_faults"] = patterns
        if errors:
            raise ValidationError(errors)
        return data


class XmlAdapter(ReadsStatus, HttpAdapter):
    name = "xml"
    settings_schema = XmlSettings
    default_headers = {  # noqa: RUF012
        "Content-Type": "text/xml; charset=utf-8",
        "Accept": "text/xml, application/xml, application/soap+xml",
    }

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        o = self.options
        self.template: string.Template = o["template"]
        self.id_xpath: etree.XPath = o["id_xpath"]
        self.fault_xpath: etree.XPath | None = o.get("fault_xpath")
        self.retryable_faults: list[re.Pattern[str]] = o["retryable_faults"]
        status = o["status"]
        self.status: dict[str, Any] = status or {}
        self.needs_references = status is not None
        self.status_template: string.Template | None = self.status.get("template")
        self.reader = (
            StatusReader(
                self.name,
                self.http,
                status,
                self._said_by,
                headers=status["headers"],
                # With a template the look-up is a POST of it (SOAP), without one a GET.
                body=self._status_body if self.status_template is not None else None,
            )
            if status is not None
            else None
        )

    # --- submission ---------------------------------------------------------------------

    def submit(self, ticket: Ticket) -> Receipt:
        body = self.render(ticket).encode("utf-8")
        response = self.http.request(
            self.options["method"].upper(),
            self.options["url"],
            what="submit",
            idempotency_key=ticket.idempotency_key,
            data=body,
            check_status=False,
        )
        root = self._answer(response, "submit")
        backend_id = xpath_text(self.id_xpath, root, "submit")
        if backend_id is None:
            raise TemporaryFailure(f"submit: no id at {self.id_xpath.path!r} in the answer")
        return Receipt(backend_id=backend_id)

    def render(self, ticket: Ticket) -> str:
        """The request body for a ticket: the template with every value XML-escaped."""
        values = {k: xml_text(v) for k, v in ticket_text_fields(ticket).items()}
        values["attributes_xml"] = "".join(
            f"<attribute code={xml_attr(str(code))}>{xml_text(str(item))}</attribute>"
            for code, value in ticket.attributes.items()
            for item in (value if isinstance(value, list | tuple) else [value])
        )
        for name in self.template.get_identifiers():
            if name.startswith(ATTRIBUTE_PREFIX):
                value = ticket.attributes.get(name[len(ATTRIBUTE_PREFIX) :], "")
                joined = ", ".join(value) if isinstance(value, list | tuple) else str(value)
                values[name] = xml_text(joined)
        return self.template.substitute(values)

    # --- status -------------------------------------------------------------------------

    def _status_body(self, backend_id: str) -> bytes:
        assert self.status_template is not None, "only used with a status template"
        return self.status_template.substitute(backend_id=xml_text(backend_id)).encode("utf-8")

    def _said_by(self, response: requests.Response) -> Said:
        root = self._answer(response, "status")
        s = self.status

        def text(key: str) -> str | None:
            return xpath_text(s[key], root, "status") if s.get(key) is not None else None

        return Said(
            status=text("status_xpath"), updated=text("updated_xpath"), notes=text("notes_xpath")
        )

    # --- answers ------------------------------------------------------------------------

    def _answer(self, response: requests.Response, what: str) -> etree._Element:
        """The parsed answer, or the failure its status or fault means."""
        failure = failure_for_response(response, what)
        if failure is not None and response.status_code in _INFRASTRUCTURE_STATUSES:
            raise failure
        try:
            root = parse_xml(response.content, what)
        except DeliveryError:
            if failure is not None:
                raise failure from None
            raise
        fault = self._fault(root, what)
        if fault is not None:
            raise fault
        if failure is not None:
            raise failure
        return root

    def _fault(self, root: etree._Element, what: str) -> DeliveryError | None:
        if self.fault_xpath is None:
            return None
        try:
            matched = self.fault_xpath(root)
        except etree.XPathEvalError as exc:
            return PermanentFailure(f"{what}: fault_xpath failed: {exc}")
        if not _selects_something(matched):
            return None
        text = xpath_text(self.fault_xpath, root, what) or "(no fault text)"
        message = f"{what}: the back-end answered a fault: {text}"
        if any(p.search(text) for p in self.retryable_faults):
            return TemporaryFailure(message)
        return PermanentFailure(message)


def _selects_something(result: Any) -> bool:
    if isinstance(result, list):
        return bool(result)
    if isinstance(result, str):
        return bool(result.strip())
    if isinstance(result, float):
        return result == result and result != 0  # NaN or count() = 0 select nothing
    return bool(result)
