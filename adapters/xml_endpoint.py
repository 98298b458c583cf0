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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

import requests
from lxml import etree

from adapters.base import (
    Adapter,
    DeliveryError,
    PermanentFailure,
    Receipt,
    Reference,
    TemporaryFailure,
    Ticket,
    Update,
)
from adapters.common import (
    CONTACT_FIELDS,
    TICKET_FIELDS,
    StatusMap,
    ticket_text_fields,
)
from adapters.config import SettingsReader
from adapters.http import HttpClient, failure_for_response
from adapters.safexml import compile_xpath, parse_xml, xpath_text
from schemas.datetimes import parse_datetime
from schemas.xmltext import xml_safe

log = logging.getLogger(__name__)

SETTINGS = (
    "url",
    "method",
    "headers",
    "auth",
    "timeout",
    "max_answer_bytes",
    "template",
    "id_xpath",
    "namespaces",
    "fault_xpath",
    "retryable_faults",
    "status_url",
    "status_template",
    "status_headers",
    "status_xpath",
    "updated_xpath",
    "notes_xpath",
    "value_map",
    "detailed_status",
)
# Escape quotes too, so a placeholder is safe inside an attribute value as well.
_ENTITIES = {'"': "&quot;", "'": "&apos;"}
# Answers whose status says "infrastructure trouble" stay temporary even when the body
# carries a fault: a proxy's 503 page is not the back-end refusing the report.
_INFRASTRUCTURE_STATUSES = frozenset({408, 429, 502, 503, 504})
ATTRIBUTE_PREFIX = "attribute_"


def xml_text(value: str) -> str:
    return escape(xml_safe(value), _ENTITIES)


def xml_attr(value: str) -> str:
    """A quoted attribute value (quotes included)."""
    return quoteattr(xml_safe(value))


class XmlAdapter(Adapter):
    name = "xml"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        reader = SettingsReader(self.name, self.settings, allowed=SETTINGS)
        url = reader.get_url("url")
        assert url is not None
        self.url = url
        self.method = reader.get_choice("method", ("post", "put"), default="post").upper()
        self.template = _read_template(reader, "template", _ticket_placeholders(), prefix=True)
        self.namespaces = reader.get_str_map("namespaces")
        self.id_xpath = _read_xpath(reader, "id_xpath", self.namespaces, required=True)
        self.fault_xpath = _read_xpath(reader, "fault_xpath", self.namespaces)
        self.retryable_faults = _read_patterns(reader, "retryable_faults")
        self._read_status(reader)
        self.http = HttpClient(
            reader,
            default_headers={
                "Content-Type": "text/xml; charset=utf-8",
                "Accept": "text/xml, application/xml, application/soap+xml",
            },
        )

    def _read_status(self, reader: SettingsReader) -> None:
        self.status_url = reader.get_url("status_url", required=False)
        status_keys = ("status_template", "status_headers", "status_xpath", "updated_xpath")
        if self.status_url is None:
            stray = [k for k in (*status_keys, "notes_xpath", "value_map") if reader.has(k)]
            if stray:
                raise reader.error(stray[0], "needs 'status_url' to be set")
            return
        self.needs_references = True
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(self.status_url) if n]
        except ValueError as exc:
            raise reader.error("status_url", f"is not a valid URL template: {exc}") from None
        if set(names) - {"backend_id"}:
            raise reader.error("status_url", "may only use the placeholder {backend_id}")
        self.status_template = (
            _read_template(reader, "status_template", {"backend_id"}, prefix=False)
            if reader.has("status_template")
            else None
        )
        if self.status_template is None and "{backend_id}" not in self.status_url:
            raise reader.error("status_url", "must contain {backend_id} when there is no template")
        self.status_headers = reader.get_str_map("status_headers")
        status_xpath = _read_xpath(reader, "status_xpath", self.namespaces, required=True)
        assert status_xpath is not None
        self.status_xpath = status_xpath
        self.updated_xpath = _read_xpath(reader, "updated_xpath", self.namespaces)
        self.notes_xpath = _read_xpath(reader, "notes_xpath", self.namespaces)
        self.value_map = StatusMap(reader)
        self.detailed_status = reader.get_bool("detailed_status", True)

    # --- submission ---------------------------------------------------------------------

    def submit(self, ticket: Ticket) -> Receipt:
        body = self.render(ticket).encode("utf-8")
        response = self.http.request(
            self.method,
            self.url,
            what="submit",
            idempotency_key=ticket.idempotency_key,
            data=body,
            check_status=False,
        )
        root = self._answer(response, "submit")
        assert self.id_xpath is not None
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

    def fetch_updates(self, since: datetime, references: Sequence[Reference] = ()) -> list[Update]:
        if self.status_url is None:
            return []
        updates: list[Update] = []
        for backend_id in dict.fromkeys(r.backend_id for r in references if r.backend_id):
            update = self._fetch_one(backend_id)
            if update is not None and update.updated_datetime >= since:
                updates.append(update)
        return updates

    def _fetch_one(self, backend_id: str) -> Update | None:
        assert self.status_url is not None
        url = self.status_url.format(backend_id=quote(backend_id, safe=""))
        if self.status_template is not None:
            body = self.status_template.substitute(backend_id=xml_text(backend_id))
            response = self.http.request(
                "POST",
                url,
                what="status",
                headers=self.status_headers,
                data=body.encode("utf-8"),
                check_status=False,
            )
        else:
            response = self.http.request(
                "GET", url, what="status", headers=self.status_headers, check_status=False
            )
        if response.status_code in (404, 410):
            log.warning("xml: work order %s is gone (HTTP %s)", backend_id, response.status_code)
            return None
        root = self._answer(response, "status")
        raw = xpath_text(self.status_xpath, root, "status")
        if raw is None:
            log.warning("xml: no status for %s at %r", backend_id, self.status_xpath.path)
            return None
        status, known = self.value_map.map(raw)
        if not known:
            log.warning("xml: unknown status %r for %s, kept as open", raw, backend_id)
        updated = None
        if self.updated_xpath is not None:
            updated = parse_datetime(xpath_text(self.updated_xpath, root, "status"))
        notes = xpath_text(self.notes_xpath, root, "status") if self.notes_xpath else None
        return Update(
            backend_id=backend_id,
            status=status,
            updated_datetime=updated or datetime.now(UTC),
            detailed_status=raw if self.detailed_status or not known else None,
            status_notes=notes,
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

    def close(self) -> None:
        self.http.close()


def _selects_something(result: Any) -> bool:
    if isinstance(result, list):
        return bool(result)
    if isinstance(result, str):
        return bool(result.strip())
    if isinstance(result, float):
        return result == result and result != 0  # NaN or count() = 0 select nothing
    return bool(result)


def _ticket_placeholders() -> set[str]:
    """Every $name a submission template may use (besides $attribute_CODE)."""
    names = set(TICKET_FIELDS) - {"contact", "attributes"}
    names.update(CONTACT_FIELDS)
    names.update({"media_url", "media_urls", "attributes_xml"})
    return names


def _read_template(
    reader: SettingsReader, key: str, known: set[str], *, prefix: bool
) -> string.Template:
    text = reader.require_str(key)
    template = string.Template(text)
    if not template.is_valid():
        raise reader.error(key, "has a stray '$' (write $$ for a literal dollar sign)")
    unknown = sorted(
        n
        for n in template.get_identifiers()
        if n not in known and not (prefix and n.startswith(ATTRIBUTE_PREFIX))
    )
    if unknown:
        raise reader.error(
            key, f"uses unknown placeholder(s) {', '.join('$' + n for n in unknown)}"
        )
    return template


def _read_xpath(
    reader: SettingsReader, key: str, namespaces: Mapping[str, str], *, required: bool = False
) -> etree.XPath | None:
    expression = reader.get_str(key, required=required)
    if expression is None:
        return None
    try:
        return compile_xpath(expression, namespaces)
    except ValueError as exc:
        raise reader.error(key, f"is not a usable XPath: {exc}") from None


def _read_patterns(reader: SettingsReader, key: str) -> list[re.Pattern[str]]:
    patterns = []
    for index, pattern in enumerate(reader.get_str_list(key)):
        try:
            patterns.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise reader.error(f"{key}[{index}]", f"is not a valid pattern: {exc}") from None
    return patterns
