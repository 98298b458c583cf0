"""One data structure, two renderings: JSON, and XML by the Spark convention.

A list renders in XML as a container whose children take the container's singular name
(`services` -> `service`), and in JSON as an array with the wrapper dropped, so both
formats always come from the same Python value.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response
from lxml import etree

from schemas.datetimes import format_w3c
from schemas.xmltext import xml_safe

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"

# Container element -> repeated child element.
CHILDREN = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
    "service_request_updates": "request_update",
    "notes": "note",
    "media_urls": "media_url",
    "keywords": "keyword",
    "groups": "group",
    "history": "update",
    "reports": "report",
    "deliveries": "delivery",
    "fields": "field",
}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_w3c(value)
    return xml_safe(str(value))


def _build(parent: etree._Element, name: str, value: Any) -> None:
    element = etree.SubElement(parent, name)
    _fill(element, name, value)


def _fill(element: etree._Element, name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        for key, child in value.items():
            _build(element, key, child)
    elif isinstance(value, list | tuple):
        child_name = CHILDREN.get(name, "item")
        for item in value:
            _build(element, child_name, item)
    else:
        element.text = _scalar(value)


def to_xml(root: str, value: Any) -> bytes:
    element = etree.Element(root)
    _fill(element, root, value)
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_w3c(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=_json_default).encode("utf-8")


def render(value: Any, root: str, fmt: str, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, value), status=status, content_type=XML_TYPE)
    return Response(to_json(value), status=status, content_type=JSON_TYPE)
