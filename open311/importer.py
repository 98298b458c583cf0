"""`open311 import FILE.csv --mapping MAPPING.yaml`: a legacy system's history (a city's
open-data 311 export, say) loaded as reports of the gateway.

Each row is read through the mapping (schemas/importing.py), checked by the same schema
as POST requests (lat/long ranges, text lengths, control characters, a location), given a
jurisdiction as a POST without `jurisdiction_id` gets one (the point, else the default)
and routed by the configuration. A row that cannot be placed is skipped with its reason.

Imported reports are history, not news: they are never sent to a back-end. Each gets the
delivery rows its route names already `done` (as `open311 seed` writes them), so the
outbox has nothing to claim and the agency's staff see them as theirs. Visibility is the
service's: a private service's report gets a private id and stays private.

A re-run imports nothing twice: each report keeps "<source>:<legacy id>" in
`service_request.source_key` (unique), and rows whose key is there are skipped. Rows go in
batches of BATCH in one transaction each, so an interrupted run resumes where it stopped.
Run one import of a source at a time (two at once would fail a batch on the unique key).
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from marshmallow import ValidationError
from sqlalchemy import select

from schemas.datetimes import within_range
from schemas.errors import key_path_lines, parameter_lines
from schemas.importing import MappingSchema
from schemas.requests import CreateRequestSchema

from .catalog import Catalog, ConfigError, Service
from .db import Database, utcnow
from .models import Delivery, ServiceRequest
from .routing import Destination, OutsideEveryJurisdiction, OutsideServiceArea, Router
from .store import private_id, reported_columns, reserve_numbers
from .yaml_text import parse_yaml

BATCH = 1000
_SOURCE_KEY_LENGTH = 200  # service_request.source_key
_VALUE_IN_REASON = 60


class MappingError(ConfigError):
    """The mapping file cannot be used with this configuration or this CSV file."""


class ImportFailed(Exception):
    """The CSV file cannot be read on (a field over the csv module's limit, a header in
    another encoding); rows before it stay imported, and a re-run after the fix goes on
    from there."""


@dataclass(frozen=True)
class Mapping:
    source: str
    columns: dict[str, str]
    services: dict[str, str]  # folded legacy value -> service code
    statuses: dict[str, str]  # folded legacy value -> open|closed
    time_format: str | None
    zone: ZoneInfo
    jurisdiction: str | None
    jurisdictions: dict[str, str] | None  # folded legacy value -> jurisdiction id
    delimiter: str
    encoding: str


def _fold(value: str) -> str:
    return value.strip().casefold()


def load_mapping(path: str | Path, catalog: Catalog) -> Mapping:
    """The mapping file, checked against the configuration; MappingError names each
    problem by its key path."""
    where = Path(path)
    try:
        raw = parse_yaml(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping file ({exc.strerror}).") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: the mapping must be a mapping at the top level.")
    try:
        data = MappingSchema().load(raw)
    except ValidationError as exc:
        lines = "\n".join(f"  {line}" for line in key_path_lines(exc.messages))
        raise MappingError(f"{path}: the mapping is not valid:\n{lines}") from exc
    problems = _against_configuration(data, catalog)
    if problems:
        lines = "\n".join(f"  {line}" for line in problems)
        raise MappingError(f"{path}: the mapping does not fit {catalog.source}:\n{lines}")
    return Mapping(
        source=data["source"],
        columns=data["columns"],
        services={_fold(k): v for k, v in data["services"].items()},
        statuses={_fold(k): v for k, v in data["statuses"].items()},
        time_format=data["datetimes"]["format"],
        zone=ZoneInfo(data["datetimes"]["timezone"]),
        jurisdiction=data["jurisdiction"],
        jurisdictions=(
            {_fold(k): v for k, v in data["jurisdictions"].items()}
            if data["jurisdictions"]
            else None
        ),
        delimiter=data["csv"].get("delimiter", ","),
        encoding=data["csv"].get("encoding", "utf-8-sig"),
    )


def _against_configuration(data: dict[str, Any], catalog: Catalog) -> list[str]:
    problems = []
    fixed = data["jurisdiction"]
    if fixed is not None and fixed not in catalog.jurisdictions:
        problems.append(f"jurisdiction: no jurisdiction {fixed!r} in the configuration.")
    for legacy, jurisdiction in (data["jurisdictions"] or {}).items():
        if jurisdiction not in catalog.jurisdictions:
            problems.append(
                f"jurisdictions.{legacy}: no jurisdiction {jurisdiction!r} in the configuration."
            )
    codes = {code for (j, code) in catalog.services if fixed is None or j == fixed}
    for legacy, code in data["services"].items():
        if code not in codes:
            scope = f" of {fixed}" if fixed else ""
            problems.append(f"services.{legacy}: no service {code!r}{scope} in the configuration.")
    return problems


@dataclass
class ImportResult:
    rows: int = 0
    imported: int = 0
    private: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    first_line: dict[str, int] = field(default_factory=dict)  # reason -> where first seen
    seconds: float = 0.0

    def skip(self, reason: str, line: int) -> None:
        self.skipped[reason] += 1
        self.first_line.setdefault(reason, line)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


class _Skip(Exception):
    """A row that is not imported; the message is its reason, counted per reason."""


@dataclass
class _Row:
    line: int
    key: str
    service: Service
    fields: dict[str, Any]
    destinations: list[Destination]


class _Counting(io.RawIOBase):
    """The bytes read so far, for the progress bar (the file's size is its length)."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer) or 0
        self.count += n
        return n


def import_csv(
    database: Database,
    catalog: Catalog,
    router: Router,
    path: str | Path,
    mapping: Mapping,
    *,
    progress: Callable[[int], None] = lambda _n: None,
    dry_run: bool = False,
) -> ImportResult:
    """Imports the rows of the CSV file; `progress(n)` is told the bytes read per batch.
    `dry_run`: every check and write, then each batch rolled back."""
    started = time.monotonic()
    result = ImportResult()
    reader = _Reader(catalog, router, mapping)
    with open(path, "rb") as raw:
        counting = _Counting(raw)
        # A byte the encoding cannot read spoils its row only (skipped, see _Reader.cell),
        # not the rows decoded with it.
        text = io.TextIOWrapper(
            io.BufferedReader(counting), mapping.encoding, "surrogateescape", newline=""
        )
        rows = csv.DictReader(text, delimiter=mapping.delimiter)
        _check_header(path, rows, mapping)
        reported = 0
        for batch in _batches(rows, result, path):
            prepared = []
            for line, row in batch:
                try:
                    prepared.append(reader.read(line, row))
                except _Skip as skip:
                    result.skip(str(skip), line)
            _write(database, catalog, prepared, result, dry_run)
            progress(counting.count - reported)
            reported = counting.count
    result.seconds = time.monotonic() - started
    return result


def _check_header(path: str | Path, rows: csv.DictReader[str], mapping: Mapping) -> None:
    try:
        header = rows.fieldnames or []
    except csv.Error as exc:
        raise ImportFailed(f"{path}: the header row cannot be read: {exc}") from exc
    if not all(_readable(name) for name in header):
        raise ImportFailed(
            f"{path}: the header row is not {mapping.encoding} text (set csv.encoding in "
            "the mapping)"
        )
    missing = [(k, c) for k, c in mapping.columns.items() if c not in header]
    if missing:
        shown = ", ".join(header) if header else "(no header row)"
        lines = "\n".join(f"  columns.{k}: no column {c!r} in the file" for k, c in missing)
        raise MappingError(
            f"{path}: the mapping names columns the file lacks:\n{lines}\n  (it has: {shown})"
        )


def _batches(
    rows: csv.DictReader[str], result: ImportResult, path: str | Path
) -> Iterator[list[tuple[int, dict[str, str]]]]:
    batch: list[tuple[int, dict[str, str]]] = []
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            if batch:
                yield batch  # what was read before the problem goes in
            raise ImportFailed(
                f"{path}: after line {rows.line_num}: {exc} (the rows before it are "
                "imported; fix the file and run again)"
            ) from exc
        result.rows += 1
        batch.append((rows.line_num, row))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _readable(value: str) -> bool:
    """False when decoding left a byte it could not read (as a lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Reader:
    """One CSV row as a report the gateway can keep, or _Skip with the reason."""

    def __init__(self, catalog: Catalog, router: Router, mapping: Mapping) -> None:
        self.catalog = catalog
        self.router = router
        self.mapping = mapping
        self.schema = CreateRequestSchema()
        self.now = utcnow()

    def cell(self, row: dict[str, str], name: str) -> str | None:
        column = self.mapping.columns.get(name)
        value = row.get(column) if column else None
        value = value.strip() if isinstance(value, str) else None
        if value and not _readable(value):
            raise _Skip(f"not {self.mapping.encoding} text (see csv.encoding)")
        return value or None

    def read(self, line: int, row: dict[str, str]) -> _Row:
        m = self.mapping
        legacy_id = self.cell(row, "id")
        if legacy_id is None:
            raise _Skip("no id")
        key = f"{m.source}:{legacy_id}"
        if len(key) > _SOURCE_KEY_LENGTH:
            raise _Skip(f"id over {_SOURCE_KEY_LENGTH - len(m.source) - 1} characters")
        code = self._mapped(row, "service", m.services, "service")
        status = self._status(row)
        requested = self._time(row, "requested")
        if requested is None:
            raise _Skip("no requested date")
        updated = self._time(row, "updated") or requested
        if updated < requested:
            raise _Skip("updated before requested")
        if requested > self.now:
            raise _Skip("requested in the future")
        given = {
            "service_code": code,
            "lat": self.cell(row, "lat"),
            "long": self.cell(row, "long"),
            "address_string": self.cell(row, "address"),
            "address_id": self.cell(row, "address_id"),
            "zipcode": self.cell(row, "zipcode"),
            "description": self.cell(row, "description"),
            "media_url": self.cell(row, "media_url"),
        }
        try:
            data = self.schema.load({k: v for k, v in given.items() if v is not None})
        except ValidationError as exc:
            raise _Skip("invalid " + parameter_lines(exc.messages)[0]) from None
        notes = self.cell(row, "status_notes")
        service = self._service(row, code, data.get("lat"), data.get("long"))
        try:
            destinations = self.router.route(service, data.get("lat"), data.get("long"), {})
        except OutsideServiceArea:
            raise _Skip(f"outside the area of {service.code} ({service.jurisdiction})") from None
        fields = {
            "status": status,
            "status_notes": notes,
            "requested_datetime": requested,
            "updated_datetime": updated,
            **reported_columns(data),
        }
        return _Row(line, key, service, fields, destinations)

    def _mapped(self, row: dict[str, str], name: str, values: dict[str, str], what: str) -> str:
        value = self.cell(row, name)
        if value is None:
            raise _Skip(f"no {what}")
        found = values.get(_fold(value))
        if found is None:
            raise _Skip(f"unknown {what} {value[:_VALUE_IN_REASON]!r}")
        return found

    def _status(self, row: dict[str, str]) -> str:
        if "status" not in self.mapping.columns:
            return "closed"  # history without a status column: done with
        return self._mapped(row, "status", self.mapping.statuses, "status")

    def _time(self, row: dict[str, str], name: str) -> datetime | None:
        value = self.cell(row, name)
        if value is None:
            return None
        fmt = self.mapping.time_format
        try:
            parsed = datetime.strptime(value, fmt) if fmt else datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=self.mapping.zone)
            return within_range(parsed.astimezone(UTC)).replace(microsecond=0)
        except (ValueError, OverflowError):
            raise _Skip(f"{name}: not a date ({fmt or 'ISO 8601'})") from None

    def _service(
        self, row: dict[str, str], code: str, lat: float | None, long: float | None
    ) -> Service:
        m = self.mapping
        if m.jurisdiction is not None:
            jurisdiction = m.jurisdiction
        elif m.jurisdictions is not None:
            jurisdiction = self._mapped(row, "jurisdiction", m.jurisdictions, "jurisdiction")
        else:
            jurisdiction = self._located(lat, long)
        service = self.catalog.service(jurisdiction, code)
        if service is None:
            raise _Skip(f"{code} is not a service of {jurisdiction}")
        return service

    def _located(self, lat: float | None, long: float | None) -> str:
        """As POST requests without a jurisdiction_id (open311/api/params.py): the
        jurisdiction whose boundary holds the point when several are served, else the
        default."""
        if lat is not None and long is not None and self.router.locates():
            try:
                return self.router.jurisdiction_for(lat, long)
            except OutsideEveryJurisdiction:
                raise _Skip("outside every jurisdiction") from None
        default = self.catalog.gateway.default_jurisdiction
        if default is None:
            raise _Skip("no location to pick the jurisdiction by")
        return default


def _write(
    database: Database,
    catalog: Catalog,
    prepared: list[_Row],
    result: ImportResult,
    dry_run: bool,
) -> None:
    if not prepared:
        return
    with database.write() as session:
        keys = [p.key for p in prepared]
        known = set(
            session.scalars(
                select(ServiceRequest.source_key).where(ServiceRequest.source_key.in_(keys))
            )
        )
        fresh: list[_Row] = []
        for p in prepared:
            if p.key in known:
                result.skip("already imported", p.line)
            else:
                known.add(p.key)  # the same id twice in a batch: the first one counts
                fresh.append(p)
        numbers = _numbers(session, catalog, fresh)
        for p in fresh:
            session.add(_report(p, catalog, numbers))
        session.flush()
        if dry_run:
            session.rollback()
        else:
            session.commit()
    result.imported += len(fresh)
    result.private += sum(p.service.private for p in fresh)


def _numbers(session: Any, catalog: Catalog, rows: list[_Row]) -> dict[str, Iterator[int]]:
    """The public numbers of a batch, from the counter POST uses, in file order."""
    wanted = Counter(
        catalog.jurisdictions[p.service.jurisdiction].id_prefix
        for p in rows
        if not p.service.private
    )
    out: dict[str, Iterator[int]] = {}
    for prefix, count in wanted.items():
        first = reserve_numbers(session, prefix, count)
        out[prefix] = iter(range(first, first + count))
    return out


def _report(p: _Row, catalog: Catalog, numbers: dict[str, Iterator[int]]) -> ServiceRequest:
    service = p.service
    prefix = catalog.jurisdictions[service.jurisdiction].id_prefix
    public_id = private_id(prefix) if service.private else f"{prefix}{next(numbers[prefix])}"
    primary = next(d.agency for d in p.destinations if d.primary)
    when = p.fields["requested_datetime"]
    return ServiceRequest(
        public_id=public_id,
        source_key=p.key,
        jurisdiction_id=service.jurisdiction,
        service_code=service.code,
        service_name=service.name,
        private=service.private,
        service_type=service.type,
        agency_responsible=catalog.agencies[primary].name,
        service_notice=service.service_notice,
        attributes={},
        **p.fields,
        deliveries=[
            # Already with the agency in the legacy system: nothing for the outbox.
            Delivery(
                destination=d.agency,
                primary=d.primary,
                idempotency_key=f"{public_id}:{d.agency}",
                state="done",
                attempts=0,
                next_attempt_at=when,
                created_at=when,
                delivered_at=when,
            )
            for d in p.destinations
        ],
    )
