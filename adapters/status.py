"""Reading a work order's status back: the one implementation the adapters that read status
share (`http_json`, `xml`), and the `status:` settings block they all take.

The adapters differ only in how an answer is parsed and where in it the status, the time
of the change and the notes are (a dotted path into JSON, an XPath into XML); everything
else is here: one look-up per work order with `{backend_id}` in the URL, a work order the
back-end no longer has skipped, the back-end's words mapped to open/closed, the time of the
change read leniently, and changes older than `since` left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from marshmallow import ValidationError, fields

from adapters.base import Reference, Update
from adapters.http import HttpClient
from adapters.settings import Flag, HttpUrl, Placeholders, SettingsSchema
from schemas.datetimes import parse_datetime

log = logging.getLogger(__name__)

STATUSES = ("open", "closed")
# Work orders deleted in the back-end: one of them must not stop the others' sync.
GONE = (404, 410)


class StatusMap:
    """Turns a back-end's own status words into the gateway's open/closed.

    A word the map does not know still comes through as "open" with the word kept as
    detailed_status: a new status invented by the back-end must not silently close a
    report, and staff can see what the back-end said.
    """

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self._exact = dict(mapping or {})
        self._folded = {word.casefold(): status for word, status in self._exact.items()}

    def map(self, value: str) -> tuple[str, bool]:
        """(open|closed, whether the value was recognised)."""
        if value in self._exact:
            return self._exact[value], True
        folded = value.strip().casefold()
        if folded in self._folded:
            return self._folded[folded], True
        if folded in STATUSES:
            return folded, True
        return "open", False


class ValueMap(fields.Field):
    """`value_map`: back-end status word -> open or closed, as a StatusMap."""

    default_error_messages = {  # noqa: RUF012
        "invalid": "Must be a mapping of back-end status to open or closed.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_default=StatusMap, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> StatusMap:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        mapping: dict[str, str] = {}
        problems: dict[str, list[str]] = {}
        for word, status in value.items():
            # YAML reads `1: closed` with an int key and `yes:` as True; the answer says
            # "1" or "true".
            text = str(word).lower() if isinstance(word, bool) else str(word)
            target = status.strip().lower() if isinstance(status, str) else None
            if target not in STATUSES:
                problems[text] = [f"Must be open or closed, not {status!r}."]
            else:
                mapping[text] = target
        if problems:
            raise ValidationError(problems)
        return StatusMap(mapping)


class StatusSettingsSchema(SettingsSchema):
    """The `status:` block every adapter that reads status takes; each extends it with
    where the status is in its answers (`status_path`, `status_xpath`, …)."""

    url = HttpUrl(validate=Placeholders(("backend_id",)))  # per-id look-up
    value_map = ValueMap()
    detailed_status = Flag(load_default=True)


@dataclass(frozen=True)
class Said:
    """What one answer says of one work order, in the back-end's own words."""

    status: str | None
    updated: Any = None  # read leniently (W3C, RFC 2822, epoch)
    notes: str | None = None


class StatusReader:
    """Reads status per work order, or turns a feed's items into updates.

    `read` parses an answer (raising the failure an error answer means) and says what it
    holds; `body`, when given, makes each look-up a POST of that body (SOAP), else a GET.
    """

    def __init__(
        self,
        adapter: str,
        http: HttpClient,
        block: Mapping[str, Any],
        read: Callable[[requests.Response], Said],
        *,
        body: Callable[[str], bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.adapter = adapter
        self.http = http
        self.url: str | None = block.get("url")
        self.value_map: StatusMap = block["value_map"]
        self.detailed_status: bool = block["detailed_status"]
        self.read = read
        self.body = body
        self.headers = dict(headers or {})

    def fetch_each(self, since: datetime, references: Sequence[Reference]) -> list[Update]:
        """The changes at or after `since` of each referenced work order."""
        updates: list[Update] = []
        for backend_id in dict.fromkeys(r.backend_id for r in references if r.backend_id):
            update = self._look_up(backend_id)
            if update is not None and update.updated_datetime >= since:
                updates.append(update)
        return updates

    def _look_up(self, backend_id: str) -> Update | None:
        assert self.url is not None, "fetch_each needs status.url"
        url = self.url.format(backend_id=quote(backend_id, safe=""))
        if self.body is not None:
            response = self.http.request(
                "POST",
                url,
                what="status",
                headers=self.headers,
                data=self.body(backend_id),
                check_status=False,
            )
        else:
            response = self.http.request(
                "GET", url, what="status", headers=self.headers, check_status=False
            )
        if response.status_code in GONE:
            log.warning(
                "%s: work order %s is gone (HTTP %s)",
                self.adapter,
                backend_id,
                response.status_code,
            )
            return None
        return self.update(backend_id, self.read(response))

    def update(self, backend_id: str, said: Said) -> Update | None:
        """The update an answer means, or None (logged) when it carries no status."""
        if said.status is None:
            log.warning("%s: no status for %s in the answer", self.adapter, backend_id)
            return None
        status, known = self.value_map.map(said.status)
        if not known:
            log.warning(
                "%s: unknown status %r for %s, kept as open", self.adapter, said.status, backend_id
            )
        return Update(
            backend_id=backend_id,
            status=status,
            # Without a change time, the time we looked is the best we know.
            updated_datetime=parse_datetime(said.updated) or datetime.now(UTC),
            detailed_status=said.status if self.detailed_status or not known else None,
            status_notes=said.notes,
        )


class ReadsStatus:
    """`fetch_updates` for an adapter whose `reader` looks status up per work order (None:
    its settings have no `status:` block, and there is nothing to read)."""

    reader: StatusReader | None = None

    def fetch_updates(self, since: datetime, references: Sequence[Reference] = ()) -> list[Update]:
        if self.reader is None:
            return []
        return self.reader.fetch_each(since, references)
