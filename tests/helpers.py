"""Reading answers in either format into one structure, so every API test runs in both."""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

from open311.render import CHILDREN

NEW_HAVEN_GREEN = (41.3083, -72.9279)
HAMDEN_CENTRE = (41.3959, -72.8968)
WEST_HAVEN = (41.2706, -72.9470)
HOUSING_PROPERTY = (41.3050, -72.9400)
BOSTON = (42.3601, -71.0589)


def _from_xml(element: etree._Element) -> Any:
    children = list(element)
    if element.tag in CHILDREN:
        return [_from_xml(c) for c in children]
    if not children:
        return element.text
    return {c.tag: _from_xml(c) for c in children}


def parse(response: Any, fmt: str) -> Any:
    """The answer as Python data. XML scalars come back as text (None when empty)."""
    if fmt == "xml":
        assert response.content_type.startswith("text/xml"), response.content_type
        assert response.data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>"), response.data[
            :60
        ]
        root = etree.fromstring(
            response.data, etree.XMLParser(resolve_entities=False, no_network=True)
        )
        return _from_xml(root)
    assert response.content_type.startswith("application/json"), response.content_type
    return json.loads(response.data)


def root_tag(response: Any) -> str:
    return etree.fromstring(response.data).tag


def text(value: Any) -> str | None:
    """Compare JSON values with XML text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def errors(response: Any, fmt: str) -> list[dict[str, Any]]:
    body = parse(response, fmt)
    assert isinstance(body, list) and body, body
    for error in body:
        assert set(error) == {"code", "description"}, error
        assert error["description"]
    return body


def post_request(client: Any, fmt: str, key: str | None, **fields: Any) -> Any:
    data = {"service_code": "POTHOLE", "lat": NEW_HAVEN_GREEN[0], "long": NEW_HAVEN_GREEN[1]}
    data.update(fields)
    if key is not None:
        data["api_key"] = key
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(f"/open311/v2/requests.{fmt}", data=data)
