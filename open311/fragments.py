"""A report's public answer, rendered when the report changes and kept with it.

Reads outnumber writes by orders of magnitude, so GET requests assembles its pages from
these stored pieces instead of dumping every row through marshmallow again. They are made
by the whitelist schema (schemas/output.py RequestSchema) and the one renderer
(open311/render.py), so no other code makes public bytes. The ORM fills them on every
INSERT and UPDATE of a report (models.py listens); the Core writers (a POST:
store.accept; open311 seed) fill them from the row they insert; a row written another
way (an import, a row from before revision 0007) has none, and is rendered at read time.
A Core UPDATE of a public column must set both to NULL (`STALE`)."""

from __future__ import annotations

from typing import Any

from schemas.output import RequestSchema

from .render import json_item, xml_item

_SCHEMA = RequestSchema()
STALE = {"public_json": None, "public_xml": None}


def public_view(row: Any) -> dict[str, Any]:
    """The public whitelist of a report (an ORM row, or a mapping with its columns)."""
    return _SCHEMA.dump(row)


def rendered(row: Any) -> dict[str, str]:
    """Both stored pieces for a report, by column name."""
    view = public_view(row)
    return {"public_json": json_item(view), "public_xml": xml_item("service_requests", view)}


def fill(row: Any) -> None:
    for name, value in rendered(row).items():
        setattr(row, name, value)
