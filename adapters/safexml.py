"""Parsing XML answers from back-ends we do not control, safely.

A back-end (or whoever sits between us and it) can answer with entity tricks: external
entities that read local files (XXE) or nested entities that expand to gigabytes ("billion
laughs"). The parser below never resolves entities, never loads a DTD, never touches the
network and keeps libxml2's size limits; on top of that any document carrying a DOCTYPE is
refused outright, since no legitimate answer we read needs one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from adapters.base import PermanentFailure, TemporaryFailure

_ELEMENT_START = re.compile(rb"<[A-Za-z_:]")


def make_parser() -> etree.XMLParser:
    # A parser object is not safe to share across threads, so each parse builds its own.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse_xml(content: bytes, what: str) -> etree._Element:
    """The root element of an answer; TemporaryFailure when it is not acceptable XML.

    Unparseable answers count as temporary like any other garbled answer: the back-end may
    have accepted the report and a retry with the same idempotency key is the way to learn
    its id.
    """
    if not content or not content.strip():
        raise TemporaryFailure(f"{what}: the answer is empty, expected XML")
    # Cheap early refusal, before libxml2 sees any entity declaration: a DOCTYPE can only
    # stand in the prolog, before the first element. The check after parsing catches what
    # this misses (a UTF-16 document, say).
    first_element = _ELEMENT_START.search(content)
    prolog = content[: first_element.start()] if first_element else content
    if b"<!DOCTYPE" in prolog.upper():
        raise TemporaryFailure(f"{what}: the answer contains a DOCTYPE, which is refused")
    try:
        root = etree.fromstring(content, parser=make_parser())
    except etree.XMLSyntaxError as exc:
        raise TemporaryFailure(f"{what}: the answer is not well-formed XML: {exc}") from None
    if root is None:
        raise TemporaryFailure(f"{what}: the answer holds no XML element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise TemporaryFailure(f"{what}: the answer contains a DOCTYPE, which is refused")
    return root


def compile_xpath(expression: str, namespaces: Mapping[str, str]) -> etree.XPath:
    """Compile and trial-run an expression so a bad XPath or an unknown prefix fails at
    start-up (ValueError) rather than on the first answer."""
    try:
        compiled = etree.XPath(expression, namespaces=dict(namespaces))
        compiled(etree.fromstring(b"<probe/>"))
    except (etree.XPathSyntaxError, etree.XPathEvalError) as exc:
        raise ValueError(str(exc) or "invalid XPath") from None
    return compiled


def xpath_text(compiled: etree.XPath, root: etree._Element, what: str) -> str | None:
    """The first non-empty text an expression selects: text nodes, attribute values, an
    element's whole text, or the value of a string()/number() expression."""
    try:
        result: Any = compiled(root)
    except etree.XPathEvalError as exc:
        raise PermanentFailure(f"{what}: XPath {compiled.path!r} failed: {exc}") from None
    items = result if isinstance(result, list) else [result]
    for item in items:
        text = _item_text(item)
        if text:
            return text
    return None


def _item_text(item: Any) -> str | None:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float):
        if item != item:  # NaN: what number() gives for "no such node"
            return None
        return str(int(item)) if item.is_integer() else str(item)
    if isinstance(item, str):
        return item.strip() or None
    if isinstance(item, etree._Element):
        return "".join(item.itertext()).strip() or None
    return None


def local_name(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):  # comments and processing instructions
        return ""
    return etree.QName(tag).localname
