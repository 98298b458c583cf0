"""Forward reports to another GeoReport v2 server (a city's own Open311 endpoint, a vendor's
CRM that speaks Open311) and read their status back from it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from adapters.base import (
    DeliveryError,
    PermanentFailure,
    Receipt,
    Reference,
    TemporaryFailure,
    Ticket,
    Update,
    UpdateTicket,
)
from adapters.common import CONTACT_FIELDS, scalar_text
from adapters.http import (
    HttpAdapter,
    HttpSettingsSchema,
    failure_for_response,
    join_url,
    json_answer,
    safe_url,
)
from adapters.safexml import local_name, parse_xml
from adapters.settings import Choice, Flag, HttpUrl, Text, TextMap
from schemas.datetimes import format_w3c, parse_datetime

log = logging.getLogger(__name__)


class Open311Settings(HttpSettingsSchema):
    endpoint = HttpUrl(required=True)
    api_key = Text(load_default=None)
    jurisdiction_id = Text(load_default=None)
    format = Choice(("json", "xml"), load_default="json")
    service_codes = TextMap(load_default=dict)
    send_contact = Flag(load_default=True)

    class Meta:
        # GeoReport servers authenticate by api_key, not by a header scheme.
        exclude = ("auth",)


# GeoReport v2 has no limit on the id list, but URLs do; 50 ids stay well under 2 kB.
ID_CHUNK = 50

Record = dict[str, Any]


class Open311Adapter(HttpAdapter):
    name = "open311"
    settings_schema = Open311Settings
    needs_references = True
    # mySociety's POST servicerequestupdates, as FixMyStreet sends it to open311-adapter.
    accepts_updates = True

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        o = self.options
        self.endpoint: str = o["endpoint"]
        self.api_key: str | None = o["api_key"]
        self.jurisdiction_id: str | None = o["jurisdiction_id"]
        self.format: str = o["format"]
        self.service_codes: dict[str, str] = o["service_codes"]
        self.send_contact: bool = o["send_contact"]

    def headers_for(self, options: Mapping[str, Any]) -> Mapping[str, str]:
        json = options["format"] == "json"
        return {"Accept": "application/json" if json else "application/xml, text/xml"}

    # --- submission ---------------------------------------------------------------------

    def submit(self, ticket: Ticket) -> Receipt:
        response = self.http.request(
            "POST",
            self._url("requests"),
            what="submit",
            idempotency_key=ticket.idempotency_key,
            data=self._form(ticket),
            check_status=False,
        )
        records = self._records(response, "submit")
        if not records:
            raise TemporaryFailure("submit: the answer holds no service request")
        first = records[0]
        backend_id = scalar_text(first.get("service_request_id"))
        token = scalar_text(first.get("token"))
        if backend_id is None and token is None:
            raise TemporaryFailure("submit: the answer has neither service_request_id nor token")
        return Receipt(backend_id=backend_id, backend_token=token)

    def _form(self, ticket: Ticket) -> list[tuple[str, str]]:
        form: list[tuple[str, str]] = []

        def put(key: str, value: object) -> None:
            if value is not None and value != "":
                form.append((key, str(value)))

        put("api_key", self.api_key)
        put("jurisdiction_id", self.jurisdiction_id)
        put("service_code", self.service_codes.get(ticket.service_code, ticket.service_code))
        put("lat", ticket.lat)
        put("long", ticket.long)
        put("address_string", ticket.address_string)
        put("address_id", ticket.address_id)
        put("description", ticket.description)
        if ticket.media_urls:
            # GeoReport v2 takes a single media_url.
            put("media_url", ticket.media_urls[0])
        if self.send_contact:
            for key in CONTACT_FIELDS:
                put(key, getattr(ticket.contact, key))
        for code, value in ticket.attributes.items():
            if isinstance(value, list | tuple):
                for item in value:
                    put(f"attribute[{code}][]", item)
            else:
                put(f"attribute[{code}]", value)
        return form

    def submit_update(self, ticket: UpdateTicket) -> Receipt:
        if not ticket.backend_id:
            # The upstream answered the report with a token only: there is nothing to
            # attach the update to until the token resolves (sync fills the id in).
            raise TemporaryFailure("update: the report has no upstream id yet")
        form: list[tuple[str, str]] = []
        for key, value in (
            ("api_key", self.api_key),
            ("jurisdiction_id", self.jurisdiction_id),
            ("service_request_id", ticket.backend_id),
            ("update_id", ticket.update_id),
            # open311-adapter requires a status: the app's word, else the report's own.
            ("status", (ticket.detailed_status or ticket.status or "open").upper()),
            ("updated_datetime", format_w3c(ticket.updated_datetime)),
            ("description", ticket.description or ""),
            ("media_url", ticket.media_url),
        ):
            if value is not None:
                form.append((key, value))
        response = self.http.request(
            "POST",
            self._url("servicerequestupdates"),
            what="update",
            idempotency_key=ticket.idempotency_key,
            data=form,
            check_status=False,
        )
        records = self._records(response, "update")
        update_id = scalar_text(records[0].get("update_id")) if records else None
        if update_id is None:
            raise TemporaryFailure("update: the answer holds no update_id")
        return Receipt(backend_id=update_id)

    # --- status -------------------------------------------------------------------------

    def fetch_updates(self, since: datetime, references: Sequence[Reference] = ()) -> list[Update]:
        updates: list[Update] = []
        ids: list[str] = []
        just_resolved: set[str] = set()
        for ref in references:
            if ref.backend_id:
                ids.append(ref.backend_id)
            elif ref.backend_token:
                resolved = self._resolve_token(ref.backend_token)
                if resolved is not None:
                    updates.append(resolved)
                    ids.append(resolved.backend_id)
                    just_resolved.add(resolved.backend_id)
        unique_ids = list(dict.fromkeys(ids))
        for start in range(0, len(unique_ids), ID_CHUNK):
            chunk = unique_ids[start : start + ID_CHUNK]
            for record in self._get_records("requests", {"service_request_id": ",".join(chunk)}):
                update = self._update_from(record)
                if update is None:
                    continue
                # A report whose token we resolved only now may have changed long before
                # `since`; the gateway has never seen that change, so it goes through.
                if update.updated_datetime >= since or update.backend_id in just_resolved:
                    updates.append(update)
        return updates

    def _resolve_token(self, token: str) -> Update | None:
        # Several servers answer 404 until the token has been processed.
        records = self._get_records(f"tokens/{quote(token, safe='')}", {}, missing_ok=True)
        for record in records:
            backend_id = scalar_text(record.get("service_request_id"))
            if backend_id:
                return Update(
                    backend_id=backend_id,
                    backend_token=token,
                    status="open",
                    updated_datetime=datetime.now(UTC),
                )
        return None

    def _update_from(self, record: Record) -> Update | None:
        backend_id = scalar_text(record.get("service_request_id"))
        raw_status = scalar_text(record.get("status"))
        if backend_id is None or raw_status is None:
            log.warning("open311: skipping a status record without id or status")
            return None
        status = raw_status.lower()
        detailed = scalar_text(record.get("detailed_status"))
        if status not in ("open", "closed"):
            # Not GeoReport v2, but better kept than turned into a silent "open".
            detailed = detailed or raw_status
            status = "open"
        updated = parse_datetime(record.get("updated_datetime")) or parse_datetime(
            record.get("requested_datetime")
        )
        if updated is None:
            log.warning("open311: skipping %s: no usable updated_datetime", backend_id)
            return None
        return Update(
            backend_id=backend_id,
            status=status,
            updated_datetime=updated,
            detailed_status=detailed,
            status_notes=scalar_text(record.get("status_notes")),
            agency_responsible=scalar_text(record.get("agency_responsible")),
            expected_datetime=parse_datetime(record.get("expected_datetime")),
        )

    # --- plumbing -----------------------------------------------------------------------

    def _url(self, resource: str) -> str:
        return join_url(self.endpoint, f"{resource}.{self.format}")

    def _get_records(
        self, resource: str, params: dict[str, str], *, missing_ok: bool = False
    ) -> list[Record]:
        if self.jurisdiction_id:
            params = {**params, "jurisdiction_id": self.jurisdiction_id}
        response = self.http.request(
            "GET", self._url(resource), what="status", params=params, check_status=False
        )
        if missing_ok and response.status_code == 404:
            return []
        return self._records(response, "status")

    def _records(self, response: requests.Response, what: str) -> list[Record]:
        """The records of a GeoReport answer, raising for an error status or errors body."""
        failure = failure_for_response(response, what)
        if failure is not None:
            # The status decides; the errors body only makes the message useful.
            raise type(failure)(
                f"{failure}{self._errors_suffix(response)}", retry_after=failure.retry_after
            )
        records = self._parse(response, what)
        errors = [r for r in records if "code" in r and "description" in r]
        if errors and not any("service_request_id" in r or "token" in r for r in records):
            raise _errors_failure(errors, what, safe_url(response.url))
        return records

    def _parse(self, response: requests.Response, what: str) -> list[Record]:
        if self.format == "xml":
            root = parse_xml(response.content, what)
            return [
                {local_name(child): (child.text or "").strip() for child in record}
                for record in root
                if isinstance(record.tag, str)
            ]
        data = json_answer(response, what)
        if isinstance(data, Mapping):
            # Some servers wrap the list; a bare object is one record.
            data = data.get(
                "service_requests", data.get("service_request_updates", data.get("errors", [data]))
            )
        if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
            raise TemporaryFailure(f"{what}: the answer is not a list of service requests")
        return [dict(r) for r in data]

    def _errors_suffix(self, response: requests.Response) -> str:
        try:
            records = self._parse(response, "error")
        except DeliveryError:
            return ""
        texts = [scalar_text(r.get("description")) for r in records]
        described = "; ".join(t for t in texts if t)
        return f" ({described})" if described else ""


def _errors_failure(errors: list[Record], what: str, url: str) -> DeliveryError:
    """A 2xx carrying a GeoReport errors body: the error codes are HTTP-like statuses."""
    described = "; ".join(
        f"{scalar_text(e.get('code'))}: {scalar_text(e.get('description'))}" for e in errors
    )
    message = f"{what}: {url} answered errors: {described}"
    codes = []
    for error in errors:
        text = scalar_text(error.get("code")) or ""
        if text.isdigit():
            codes.append(int(text))
    if any(code >= 500 or code in (408, 429) for code in codes):
        return TemporaryFailure(message)
    return PermanentFailure(message)
