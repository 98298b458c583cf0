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


# A list answer assembled from items rendered one by one, byte for byte what to_json and
# to_xml make of the whole list (json.dumps joins items with ", "; lxml writes an empty
# container as a self-closing tag). tests/conformance/test_fragments.py holds them equal.
_XML_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"


def json_item(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def xml_item(root: str, value: Any) -> str:
    """One child of the `root` container, as to_xml would write it inside the list."""
    element = etree.Element(CHILDREN[root])
    _fill(element, CHILDREN[root], value)
    return etree.tostring(element, encoding="unicode")


def assemble(items: list[str], root: str, fmt: str) -> bytes:
    if fmt == "xml":
        if not items:
            return _XML_DECLARATION + f"<{root}/>".encode()
        return _XML_DECLARATION + f"<{root}>{''.join(items)}</{root}>".encode()
    return f"[{', '.join(items)}]".encode()


def answer(body: bytes, fmt: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type=XML_TYPE if fmt == "xml" else JSON_TYPE)


def to_bytes(value: Any, root: str, fmt: str) -> bytes:
    return to_xml(root, value) if fmt == "xml" else to_json(value)


def render(value: Any, root: str, fmt: str, status: int = 200) -> Response:
    return answer(to_bytes(value, root, fmt), fmt, status)
