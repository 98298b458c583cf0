"""Deliver reports to a generic JSON REST back-end (a work-order or asset system) and read
their status back, either one work order at a time or from a feed of recent changes.

Everything back-end specific lives in the settings: where to send, how to authenticate,
how the ticket's fields map to the body, where the new id is in the answer, and how to
read and translate status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from marshmallow import ValidationError, fields, validates_schema

from adapters.base import Receipt, Reference, TemporaryFailure, Ticket, Update
from adapters.common import (
    CONTACT_FIELDS,
    MISSING,
    TICKET_FIELDS,
    get_path,
    scalar_text,
    ticket_as_dict,
)
from adapters.http import HttpAdapter, HttpSettingsSchema, json_answer, raise_for_status
from adapters.settings import Choice, HttpUrl, Placeholders, Text
from adapters.status import ReadsStatus, Said, StatusReader, StatusSettingsSchema
from schemas.datetimes import format_w3c

log = logging.getLogger(__name__)

URL_FIELDS = ("request_id", "idempotency_key")
_CONST = "const"


class FieldPlan:
    """The body layout from `fields`: which body key gets which ticket value or constant."""

    def __init__(self, entries: list[tuple[list[str], str | None, Any]]) -> None:
        self.entries = entries

    def body(self, ticket: Ticket) -> dict[str, Any]:
        data = ticket_as_dict(ticket)
        body: dict[str, Any] = {}
        for parts, path, const in self.entries:
            if path is None:
                value = const
            else:
                value = get_path(data, path)
                # Absent values are left out rather than sent as null: back-ends that
                # validate types reject a null where they expect an optional string.
                if value is MISSING or value is None:
                    continue
            target = body
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = value
        return body


class Fields(fields.Field):
    """`fields`: body key -> a ticket field path or `{const: value}`, as a FieldPlan."""

    default_error_messages = {  # noqa: RUF012
        "invalid": "Must be a non-empty mapping of body key to ticket field."
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> FieldPlan:
        if not isinstance(value, Mapping) or not value:
            raise self.make_error("invalid")
        entries: list[tuple[list[str], str | None, Any]] = []
        problems: dict[str, list[str]] = {}
        for body_key, source in value.items():
            label, parts = str(body_key), str(body_key).split(".")
            if not all(parts):
                problems[label] = ["Not a valid body key."]
            elif isinstance(source, Mapping) and set(source) == {_CONST}:
                entries.append((parts, None, source[_CONST]))
            elif isinstance(source, str) and source.strip():
                problem = _ticket_path_problem(source.strip())
                if problem:
                    problems[label] = [problem]
                entries.append((parts, source.strip(), None))
            else:
                problems[label] = ["Must be a ticket field path or {const: value}."]
        # `location: lat` next to `location.lat: lat` cannot both be written.
        keys = [".".join(parts) for parts, _, _ in entries]
        for one in keys:
            for other in keys:
                if other.startswith(one + "."):
                    problems.setdefault(other, []).append(f"Clashes with {one}.")
        if problems:
            raise ValidationError(problems)
        return FieldPlan(entries)


def _ticket_path_problem(path: str) -> str | None:
    root, _, rest = path.partition(".")
    if root not in TICKET_FIELDS:
        return f"Unknown ticket field {root!r}; known: {', '.join(TICKET_FIELDS)}."
    if root == "contact" and rest and rest not in CONTACT_FIELDS:
        return f"Unknown contact field {rest!r}; known: {', '.join(CONTACT_FIELDS)}."
    if root == "media_urls" and rest and not rest.isdigit():
        return "media_urls takes an index, such as media_urls.0."
    if rest and root not in ("contact", "attributes", "media_urls"):
        return f"The ticket field {root!r} has no parts."
    return None


class JsonStatusSchema(StatusSettingsSchema):
    """`status:` for http_json: per-id look-ups (`url`) or a feed of changes (`feed_url`)."""

    feed_url = HttpUrl()
    since_param = Text(load_default="updated_since")
    items_path = Text(load_default="items")
    id_path = Text(load_default="id")
    status_path = Text(load_default="status")
    notes_path = Text(load_default=None)
    updated_path = Text(load_default=None)

    @validates_schema
    def _one_way(self, data: dict[str, Any], **_: Any) -> None:
        if ("url" in data) == ("feed_url" in data):
            raise ValidationError("Set status.url or status.feed_url, and not both.", "url")
        if "url" in data and "{backend_id}" not in data["url"]:
            raise ValidationError("Must contain {backend_id}.", "url")


class HttpJsonSettings(HttpSettingsSchema):
    # PUT-style back-ends name the new resource themselves: /work-orders/{request_id}.
    url = HttpUrl(required=True, validate=Placeholders(URL_FIELDS))
    method = Choice(("post", "put", "patch"), load_default="post")
    status = fields.Nested(JsonStatusSchema, load_default=None)
    id_path = Text(load_default="id")
    # `fields` in the file; a schema's own `fields` attribute is marshmallow's.
    body_fields = Fields(load_default=None, data_key="fields")


class HttpJsonAdapter(ReadsStatus, HttpAdapter):
    name = "http_json"
    settings_schema = HttpJsonSettings
    default_headers = {"Accept": "application/json", "Content-Type": "application/json"}  # noqa: RUF012

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        o = self.options
        self.fields: FieldPlan | None = o["body_fields"]
        self.id_path: str = o["id_path"]
        status = o["status"]
        self.status: dict[str, Any] = status or {}
        self.feed_url: str | None = self.status.get("feed_url")
        # Per-id look-ups need the references; a feed is read by time alone.
        self.needs_references = "url" in self.status
        self.reader: StatusReader | None = (
            StatusReader(self.name, self.http, status, self._said_by) if status else None
        )

    # --- submission ---------------------------------------------------------------------

    def submit(self, ticket: Ticket) -> Receipt:
        data = self.fields.body(ticket) if self.fields else ticket_as_dict(ticket)
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        url = self.options["url"].format(
            request_id=quote(ticket.request_id, safe=""),
            idempotency_key=quote(ticket.idempotency_key, safe=""),
        )
        response = self.http.request(
            self.options["method"].upper(),
            url,
            what="submit",
            idempotency_key=ticket.idempotency_key,
            data=body,
        )
        answer = json_answer(response, "submit")
        backend_id = scalar_text(get_path(answer, self.id_path))
        if backend_id is None:
            raise TemporaryFailure(f"submit: the answer has no id at {self.id_path!r}")
        return Receipt(backend_id=backend_id)

    # --- status -------------------------------------------------------------------------

    def fetch_updates(self, since: datetime, references: Sequence[Reference] = ()) -> list[Update]:
        if self.reader is not None and self.feed_url is not None:
            return self._fetch_feed(self.reader, since)
        return super().fetch_updates(since, references)

    def _said_by(self, response: requests.Response) -> Said:
        raise_for_status(response, "status")
        return self._said(json_answer(response, "status"))

    def _said(self, item: Any) -> Said:
        s = self.status
        return Said(
            status=scalar_text(get_path(item, s["status_path"])),
            updated=get_path(item, s["updated_path"]) if s["updated_path"] else None,
            notes=scalar_text(get_path(item, s["notes_path"])) if s["notes_path"] else None,
        )

    def _fetch_feed(self, reader: StatusReader, since: datetime) -> list[Update]:
        assert self.feed_url is not None
        since_param, items_path = self.status["since_param"], self.status["items_path"]
        params = {since_param: format_w3c(since)} if since_param else {}
        response = self.http.request("GET", self.feed_url, what="status", params=params)
        answer = json_answer(response, "status")
        items = get_path(answer, items_path)
        if items is MISSING and isinstance(answer, list):
            items = answer
        if not isinstance(items, list):
            raise TemporaryFailure(f"status: the feed has no list at {items_path!r}")
        updates: list[Update] = []
        for item in items:
            backend_id = scalar_text(get_path(item, self.status["id_path"]))
            if backend_id is None:
                log.warning("http_json: skipping a feed item without %r", self.status["id_path"])
                continue
            update = reader.update(backend_id, self._said(item))
            # The server filters by `since` already; this guards against one that ignores it.
            if update is not None and update.updated_datetime >= since:
                updates.append(update)
        return updates
