"""Deliver reports to a generic JSON REST back-end (a work-order or asset system) and read
their status back, either one work order at a time or from a feed of recent changes.

Everything back-end specific lives in the settings: where to send, how to authenticate,
how the ticket's fields map to the body, where the new id is in the answer, and how to
read and translate status.
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from adapters.base import Adapter, Receipt, Reference, TemporaryFailure, Ticket, Update
from adapters.common import (
    CONTACT_FIELDS,
    MISSING,
    TICKET_FIELDS,
    StatusMap,
    get_path,
    scalar_text,
    ticket_as_dict,
)
from adapters.config import SettingsReader
from adapters.http import HttpClient, json_answer, raise_for_status
from schemas.datetimes import format_w3c, parse_datetime

log = logging.getLogger(__name__)

SETTINGS = (
    "url",
    "method",
    "auth",
    "headers",
    "fields",
    "id_path",
    "status",
    "timeout",
    "max_answer_bytes",
)
STATUS_SETTINGS = (
    "url",
    "feed_url",
    "since_param",
    "items_path",
    "id_path",
    "status_path",
    "notes_path",
    "updated_path",
    "value_map",
    "detailed_status",
)
URL_FIELDS = ("request_id", "idempotency_key")


class FieldPlan:
    """The body layout from `fields`: which body key gets which ticket value or constant."""

    def __init__(self, reader: SettingsReader, key: str = "fields") -> None:
        raw = reader.raw(key)
        if not isinstance(raw, Mapping) or not raw:
            raise reader.error(key, "must be a non-empty mapping of body key to ticket field")
        self.entries: list[tuple[list[str], str | None, Any]] = []
        for body_key, source in raw.items():
            label = f"{key}.{body_key}"
            parts = str(body_key).split(".")
            if not all(parts):
                raise reader.error(label, "is not a valid body key")
            if isinstance(source, Mapping):
                if set(source) != {"const"}:
                    raise reader.error(label, "must be a ticket field path or {const: value}")
                self.entries.append((parts, None, source["const"]))
            elif isinstance(source, str) and source.strip():
                _check_ticket_path(reader, label, source.strip())
                self.entries.append((parts, source.strip(), None))
            else:
                raise reader.error(label, "must be a ticket field path or {const: value}")
        # `location: lat` next to `location.lat: lat` cannot both be written.
        keys = [".".join(parts) for parts, _, _ in self.entries]
        for one in keys:
            for other in keys:
                if other.startswith(one + "."):
                    raise reader.error(f"{key}.{other}", f"clashes with {key}.{one}")

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


def _check_ticket_path(reader: SettingsReader, label: str, path: str) -> None:
    root, _, rest = path.partition(".")
    if root not in TICKET_FIELDS:
        raise reader.error(
            label, f"refers to unknown ticket field {root!r}; known: {', '.join(TICKET_FIELDS)}"
        )
    if root == "contact" and rest and rest not in CONTACT_FIELDS:
        raise reader.error(
            label, f"refers to unknown contact field {rest!r}; known: {', '.join(CONTACT_FIELDS)}"
        )
    if root == "media_urls" and rest and not rest.isdigit():
        raise reader.error(label, "media_urls takes an index, such as media_urls.0")
    if rest and root not in ("contact", "attributes", "media_urls"):
        raise reader.error(label, f"ticket field {root!r} has no parts")


def _check_url_template(reader: SettingsReader, key: str, url: str, fields: Sequence[str]) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(url) if name is not None]
    except ValueError as exc:
        raise reader.error(key, f"is not a valid URL template: {exc}") from None
    unknown = sorted(set(names) - set(fields))
    if unknown:
        raise reader.error(
            key, f"uses unknown placeholder(s) {unknown}; allowed: {', '.join(fields)}"
        )


class HttpJsonAdapter(Adapter):
    name = "http_json"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        reader = SettingsReader(self.name, self.settings, allowed=SETTINGS)
        url = reader.get_url("url")
        assert url is not None
        # PUT-style back-ends name the new resource themselves: /work-orders/{request_id}.
        _check_url_template(reader, "url", url, URL_FIELDS)
        self.url = url
        self.method = reader.get_choice("method", ("post", "put", "patch"), default="post").upper()
        self.fields = FieldPlan(reader) if reader.has("fields") else None
        self.id_path = reader.get_str("id_path", default="id") or "id"
        self._read_status(reader)
        self.http = HttpClient(
            reader,
            default_headers={"Accept": "application/json", "Content-Type": "application/json"},
        )

    def _read_status(self, reader: SettingsReader) -> None:
        status = reader.nested("status", allowed=STATUS_SETTINGS)
        self.status_url: str | None = None
        self.feed_url: str | None = None
        if status is None:
            return
        self.status_url = status.get_url("url", required=False)
        self.feed_url = status.get_url("feed_url", required=False)
        if (self.status_url is None) == (self.feed_url is None):
            raise status.error("url", "or 'status.feed_url' must be set, and not both")
        if self.status_url is not None:
            _check_url_template(status, "url", self.status_url, ("backend_id",))
            if "{backend_id}" not in self.status_url:
                raise status.error("url", "must contain {backend_id}")
        # Per-id look-ups need the references; a feed is read by time alone.
        self.needs_references = self.status_url is not None
        self.since_param = status.get_str("since_param", default="updated_since")
        self.items_path = status.get_str("items_path", default="items") or "items"
        self.item_id_path = status.get_str("id_path", default="id") or "id"
        self.status_path = status.get_str("status_path", default="status") or "status"
        self.notes_path = status.get_str("notes_path")
        self.updated_path = status.get_str("updated_path")
        self.value_map = StatusMap(status)
        self.detailed_status = status.get_bool("detailed_status", True)

    # --- submission ---------------------------------------------------------------------

    def submit(self, ticket: Ticket) -> Receipt:
        data = self.fields.body(ticket) if self.fields else ticket_as_dict(ticket)
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        url = self.url.format(
            request_id=quote(ticket.request_id, safe=""),
            idempotency_key=quote(ticket.idempotency_key, safe=""),
        )
        response = self.http.request(
            self.method, url, what="submit", idempotency_key=ticket.idempotency_key, data=body
        )
        answer = json_answer(response, "submit")
        backend_id = scalar_text(get_path(answer, self.id_path))
        if backend_id is None:
            raise TemporaryFailure(f"submit: the answer has no id at {self.id_path!r}")
        return Receipt(backend_id=backend_id)

    # --- status -------------------------------------------------------------------------

    def fetch_updates(self, since: datetime, references: Sequence[Reference] = ()) -> list[Update]:
        if self.status_url is not None:
            return self._fetch_each(since, references)
        if self.feed_url is not None:
            return self._fetch_feed(since)
        return []

    def _fetch_each(self, since: datetime, references: Sequence[Reference]) -> list[Update]:
        assert self.status_url is not None
        updates: list[Update] = []
        for backend_id in dict.fromkeys(r.backend_id for r in references if r.backend_id):
            url = self.status_url.format(backend_id=quote(backend_id, safe=""))
            response = self.http.request("GET", url, what="status", check_status=False)
            if response.status_code in (404, 410):
                # One work order deleted in the back-end must not stop the others' sync.
                log.warning(
                    "http_json: work order %s is gone (HTTP %s)", backend_id, response.status_code
                )
                continue
            raise_for_status(response, "status")
            update = self._update_from(json_answer(response, "status"), backend_id)
            if update is not None and update.updated_datetime >= since:
                updates.append(update)
        return updates

    def _fetch_feed(self, since: datetime) -> list[Update]:
        assert self.feed_url is not None
        params = {self.since_param: format_w3c(since)} if self.since_param else {}
        response = self.http.request("GET", self.feed_url, what="status", params=params)
        answer = json_answer(response, "status")
        items = get_path(answer, self.items_path)
        if items is MISSING and isinstance(answer, list):
            items = answer
        if not isinstance(items, list):
            raise TemporaryFailure(f"status: the feed has no list at {self.items_path!r}")
        updates: list[Update] = []
        for item in items:
            backend_id = scalar_text(get_path(item, self.item_id_path))
            if backend_id is None:
                log.warning("http_json: skipping a feed item without %r", self.item_id_path)
                continue
            update = self._update_from(item, backend_id)
            # The server filters by `since` already; this guards against one that ignores it.
            if update is not None and update.updated_datetime >= since:
                updates.append(update)
        return updates

    def _update_from(self, item: Any, backend_id: str) -> Update | None:
        raw = scalar_text(get_path(item, self.status_path))
        if raw is None:
            log.warning("http_json: %s has no status at %r", backend_id, self.status_path)
            return None
        status, known = self.value_map.map(raw)
        if not known:
            log.warning("http_json: unknown status %r for %s, kept as open", raw, backend_id)
        updated = None
        if self.updated_path:
            updated = parse_datetime(get_path(item, self.updated_path))
        notes = scalar_text(get_path(item, self.notes_path)) if self.notes_path else None
        return Update(
            backend_id=backend_id,
            status=status,
            # Without a change time, the time we looked is the best we know.
            updated_datetime=updated or datetime.now(UTC),
            detailed_status=raw if self.detailed_status or not known else None,
            status_notes=notes,
        )

    def close(self) -> None:
        self.http.close()
