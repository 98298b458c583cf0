"""The configuration file turned into the objects the gateway serves: jurisdictions,
services and their attributes, agencies, areas and routes.

Loaded once at start-up; a bad file raises `ConfigError` naming the file, the key path
and the problem, and the gateway does not start.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import phonenumbers
import yaml
from marshmallow import ValidationError

from adapters.registry import settings_problems
from schemas.config import ConfigSchema
from schemas.errors import key_path_lines

from .yaml_text import parse_yaml

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class ConfigError(Exception):
    """The configuration cannot be used; the message is for the person who wrote it."""


@dataclass(frozen=True)
class Value:
    key: str
    name: str


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str
    description: str
    order: int
    required: bool = False
    variable: bool = True
    datatype_description: str | None = None
    values: tuple[Value, ...] = ()

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(v.key for v in self.values)


@dataclass(frozen=True)
class ContactRule:
    rule: str = "optional"  # anonymous | optional | required
    fields: tuple[str, ...] = ()
    any_of: bool = True


@dataclass(frozen=True)
class Service:
    code: str
    jurisdiction: str
    name: str
    description: str
    agency: str
    type: str = "realtime"
    group: str | None = None
    keywords: tuple[str, ...] = ()
    service_notice: str | None = None
    visibility: str = "public"
    contact: ContactRule = field(default_factory=ContactRule)
    area: str | None = None  # resolved: an area name, or None for anywhere
    attributes: tuple[Attribute, ...] = ()

    @property
    def metadata(self) -> bool:
        return bool(self.attributes)

    @property
    def private(self) -> bool:
        return self.visibility == "private"


@dataclass(frozen=True)
class Jurisdiction:
    id: str
    name: str
    boundary: Path | None = None
    id_prefix: str = ""


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    adapter: str
    settings: dict[str, Any] = field(default_factory=dict)
    webhook_secret: str | None = None
    # POST servicerequestupdates from the app that filed a report: whether its comment is
    # published and whether it may change the status (configuration: app_updates).
    public_app_comments: bool = False
    app_status_changes: bool = False


@dataclass(frozen=True)
class Area:
    id: str
    file: Path
    key: str | None = None
    name: str | None = None
    origin: str | None = None  # the key that named the file, e.g. "areas[0].file", for messages
    # Only the features whose property has this value (a region's town in a shared file).
    match: tuple[str, Any] | None = None


@dataclass(frozen=True)
class Route:
    to: tuple[str, ...]
    copy_to: tuple[str, ...] = ()
    name: str | None = None
    jurisdiction: str | None = None
    services: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    within: tuple[str, ...] = ()
    outside: tuple[str, ...] = ()
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Gateway:
    contact: str
    key_service: str
    default_jurisdiction: str | None
    endpoint_url: str | None
    endpoint_type: str
    changeset: datetime
    rate_limits: dict[str, Any]
    phone_region: str = "US"


@dataclass(frozen=True)
class Notifications:
    """Updates for the reporter: where the links point, the default language, and each
    channel's settings (None: the channel is off), read by adapters/notify.py."""

    public_url: str  # no trailing slash
    default_language: str
    email: dict[str, Any] | None = None
    sms: dict[str, Any] | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(c for c in ("email", "sms") if getattr(self, c) is not None)


@dataclass
class Catalog:
    source: Path
    gateway: Gateway
    jurisdictions: dict[str, Jurisdiction]
    agencies: dict[str, Agency]
    areas: dict[str, Area]
    routes: list[Route]
    services: dict[tuple[str, str], Service]  # (jurisdiction, code) -> service
    notifications: Notifications | None = None

    def services_in(self, jurisdiction: str) -> list[Service]:
        return [s for (j, _), s in self.services.items() if j == jurisdiction]

    def service(self, jurisdiction: str, code: str) -> Service | None:
        return self.services.get((jurisdiction, code))


def load_catalog(path: str | os.PathLike[str]) -> Catalog:
    source = Path(path).resolve()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror}).") from exc
    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping at the top level.")
    raw = _expand_env(source, raw, "")
    problems: dict[str, Any] = {}
    try:
        data = ConfigSchema().load(raw)
    except ValidationError as exc:
        problems = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    _merge(problems, _adapter_problems(raw.get("agencies")))
    if problems:
        lines = "\n".join(f"  {line}" for line in key_path_lines(problems))
        raise ConfigError(f"{source}: the configuration is not valid:\n{lines}")
    return _build(source, data)


def _adapter_problems(agencies: Any) -> dict[str, Any]:
    """Each agency's adapter name and settings checked by the adapter's own schema, keyed
    like the file (`agencies[0].settings.timeout.read`); shapes the ConfigSchema refuses
    already (a settings list, no adapter name) are left to its messages."""
    found: dict[int, Any] = {}
    for index, agency in enumerate(agencies if isinstance(agencies, list) else []):
        if not isinstance(agency, dict) or not isinstance(agency.get("adapter"), str):
            continue
        settings = agency.get("settings")
        if settings is not None and not isinstance(settings, dict):
            continue
        problems = settings_problems(agency["adapter"], settings)
        if problems:
            found[index] = problems
    return {"agencies": found} if found else {}


def _merge(into: dict[Any, Any], more: dict[Any, Any]) -> None:
    for key, value in more.items():
        if isinstance(into.get(key), dict) and isinstance(value, dict):
            _merge(into[key], value)
        elif isinstance(into.get(key), list) and isinstance(value, list):
            into[key] = into[key] + value
        else:
            into[key] = value


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(source: Path, value: Any, path: str) -> Any:
    """`${NAME}` and `${NAME:-default}` in any string: secrets stay out of the file."""
    if isinstance(value, dict):
        return {
            k: _expand_env(source, v, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_expand_env(source, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{source}: {path}: environment variable {name} is not set.")

        return _ENV.sub(substitute, value)
    return value


def _resolve_file(source: Path, key_path: str, name: str) -> Path:
    candidate = (source.parent / name).resolve()
    if not candidate.is_file():
        raise ConfigError(f"{source}: {key_path}: file not found: {name} (looked in {candidate}).")
    return candidate


def _build(source: Path, data: dict[str, Any]) -> Catalog:
    g = data["gateway"]
    changeset = g["changeset"] or _changeset_from(source)
    jurisdictions: dict[str, Jurisdiction] = {}
    areas: dict[str, Area] = {}
    for i, j in enumerate(data["jurisdictions"]):
        boundary = (
            _resolve_file(source, f"jurisdictions[{i}].boundary", j["boundary"])
            if j["boundary"]
            else None
        )
        jurisdictions[j["id"]] = Jurisdiction(j["id"], j["name"], boundary, j["id_prefix"])
        if boundary is not None:
            area_id = f"jurisdiction:{j['id']}"
            areas[area_id] = Area(
                area_id, boundary, None, j["name"], f"jurisdictions[{i}].boundary"
            )
    for i, a in enumerate(data["areas"]):
        areas[a["id"]] = Area(
            a["id"],
            _resolve_file(source, f"areas[{i}].file", a["file"]),
            a["key"],
            a["name"],
            f"areas[{i}].file",
        )
    service_entries = list(data["services"])
    for i, region in enumerate(data["regions"]):
        service_entries += _expand_region(source, f"regions[{i}]", region, jurisdictions, areas)
    default = g["default_jurisdiction"]
    if default is not None and default not in jurisdictions:
        raise ConfigError(
            f"{source}: the configuration is not valid:\n  gateway.default_jurisdiction: "
            f"Unknown jurisdiction {default!r}."
        )
    if g["phone_region"] not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"{source}: the configuration is not valid:\n  gateway.phone_region: "
            f"Unknown region {g['phone_region']!r}."
        )
    gateway = Gateway(
        contact=g["contact"],
        key_service=g["key_service"],
        default_jurisdiction=default
        or (next(iter(jurisdictions)) if len(jurisdictions) == 1 else None),
        endpoint_url=(g["endpoint_url"] or "").rstrip("/") or None,
        endpoint_type=g["endpoint_type"],
        changeset=changeset.astimezone(UTC),
        rate_limits=dict(g["rate_limits"]),
        phone_region=g["phone_region"],
    )
    agencies = {
        a["id"]: Agency(
            a["id"],
            a["name"],
            a["adapter"],
            a["settings"],
            a["webhook_secret"],
            public_app_comments=a["app_updates"]["public_comments"],
            app_status_changes=a["app_updates"]["status_changes"],
        )
        for a in data["agencies"]
    }
    services: dict[tuple[str, str], Service] = {}
    for s in service_entries:
        service = _service(s, areas)
        services[(service.jurisdiction, service.code)] = service
    routes = [
        Route(
            to=tuple(r["to"]),
            copy_to=tuple(r["copy_to"]),
            name=r["name"],
            jurisdiction=r["when"]["jurisdiction"],
            services=frozenset(r["when"]["services"]),
            groups=frozenset(r["when"]["groups"]),
            within=tuple(r["when"]["within"]),
            outside=tuple(r["when"]["outside"]),
            attributes={
                k: tuple(str(x) for x in (v if isinstance(v, list) else [v]))
                for k, v in r["when"]["attributes"].items()
            },
        )
        for r in data["routes"]
    ]
    return Catalog(
        source,
        gateway,
        jurisdictions,
        agencies,
        areas,
        routes,
        services,
        _notifications(source, data["notifications"]),
    )


def _notifications(source: Path, data: dict[str, Any] | None) -> Notifications | None:
    if data is None:
        return None
    from .i18n import LANGUAGES  # the languages the pages (and so the messages) ship in

    language = data["default_language"]
    if language not in LANGUAGES:
        raise ConfigError(
            f"{source}: the configuration is not valid:\n  notifications.default_language: "
            f"{language!r} is not one of {', '.join(LANGUAGES)}."
        )
    return Notifications(
        public_url=data["public_url"].rstrip("/"),
        default_language=language,
        email=data["email"],
        sms=data["sms"],
    )


def _slug(value: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")


def _expand_region(
    source: Path,
    where: str,
    region: dict[str, Any],
    jurisdictions: dict[str, Jurisdiction],
    areas: dict[str, Area],
) -> list[dict[str, Any]]:
    """Add one jurisdiction (and its boundary area) per feature of the region's file, in
    file order; returns their service entries: the shared catalogue with each town's
    overrides applied. Raises ConfigError naming the key path of what to fix."""
    path = _resolve_file(source, f"{where}.boundaries", region["boundaries"])
    problems: list[str] = []
    id_key, name_key = region["id_property"], region["name_property"] or region["id_property"]
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, props in enumerate(_feature_properties(source, f"{where}.boundaries", path)):
        value = props.get(id_key)
        if value is None or not _slug(value):
            problems.append(f"{where}.id_property: feature {n} has no usable {id_key!r} value.")
            continue
        jid = region["id_format"].format(_slug(value))
        if jid in jurisdictions:
            what = "twice in the file" if jid in seen else "and as a jurisdiction"
            problems.append(f"{where}.id_property: {jid!r} appears {what}.")
            continue
        seen.add(jid)
        override = region["overrides"].get(jid) or {
            "name": None,
            "id_prefix": None,
            "services": [],
            "agencies": {},
            "without": [],
        }
        name = override["name"] or region["name_format"].format(props.get(name_key, value))
        jurisdictions[jid] = Jurisdiction(jid, name, path, override["id_prefix"] or "")
        areas[f"jurisdiction:{jid}"] = Area(
            f"jurisdiction:{jid}", path, None, name, f"{where}.boundaries", (id_key, value)
        )
        own = {s["code"]: s for s in override["services"]}
        for shared in region["services"]:
            if shared["code"] in override["without"] or shared["code"] in own:
                continue
            agency = override["agencies"].get(shared["code"], shared["agency"])
            entries.append({**shared, "jurisdiction": jid, "agency": agency})
        for mine in own.values():
            agency = override["agencies"].get(mine["code"], mine["agency"])
            entries.append({**mine, "jurisdiction": jid, "agency": agency})
    for town in region["overrides"]:
        if town not in seen:
            example = next(iter(sorted(seen)), "none")
            problems.append(
                f"{where}.overrides.{town}: no feature of {region['boundaries']} has this id "
                f"(ids look like {example!r})."
            )
    if problems:
        lines = "\n".join(f"  {line}" for line in problems)
        raise ConfigError(f"{source}: the configuration is not valid:\n{lines}")
    return entries


def _feature_properties(source: Path, key_path: str, path: Path) -> list[dict[str, Any]]:
    # Only the properties here; routing reads the geometries (once per file) for its index.
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{source}: {key_path}: {path}: not a readable GeoJSON file ({exc})."
        ) from exc
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise ConfigError(f"{source}: {key_path}: {path}: a region needs a FeatureCollection.")
    return [(f.get("properties") or {}) if isinstance(f, dict) else {} for f in features]


def _service(s: dict[str, Any], areas: dict[str, Area]) -> Service:
    area = s["area"]
    if area is None:
        area = f"jurisdiction:{s['jurisdiction']}"
        area = area if area in areas else None
    elif area == "anywhere":
        area = None
    elif area == "jurisdiction":
        area = f"jurisdiction:{s['jurisdiction']}"
    return _from_file(
        Service,
        s,
        keywords=_keywords(s),
        contact=ContactRule(
            s["contact"]["rule"], tuple(s["contact"]["needs"]), s["contact"]["any_of"]
        ),
        area=area,
        attributes=tuple(
            _from_file(Attribute, a, values=tuple(Value(v["key"], v["name"]) for v in a["values"]))
            for a in sorted(s["attributes"], key=lambda a: a["order"])
        ),
    )


def _from_file(kind: type[T], loaded: dict[str, Any], **made: Any) -> T:
    """One of the frozen classes from what the schema loaded: each field taken from the key
    of its name (the schemas and these classes name them alike), `made` for the others."""
    names = {f.name for f in fields(kind)}
    return kind(**{k: v for k, v in loaded.items() if k in names and k not in made}, **made)


def _keywords(service: dict[str, Any]) -> tuple[str, ...]:
    words = tuple(service["keywords"])
    # FixMyStreet's convention: clients recognise a private category by this keyword.
    if service["visibility"] == "private" and "private" not in words:
        words += ("private",)
    return words


def _changeset_from(source: Path) -> datetime:
    # Discovery's changeset must move when the services change and must lie in the
    # past; the file's modification time does both without asking the author.
    return datetime.fromtimestamp(int(source.stat().st_mtime), UTC)
