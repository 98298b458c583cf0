"""Where a report goes: which areas hold its location, whether its service may be
reported there, and which agencies receive it.

Every polygon of every configured area sits in one shapely STRtree, so a report costs one
tree query however many towns or properties are configured; routes are then matched in
file order against the set of area names the point falls in (first match wins).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from .catalog import Area, Catalog, ConfigError, Route, Service


class OutsideServiceArea(Exception):
    """A located report falls outside every boundary its service covers."""

    def __init__(self, service: Service, area_name: str) -> None:
        super().__init__(
            f"The location is outside the area where {service.name!r} can be reported "
            f"({area_name}). Check the coordinates (lat, long in WGS84) or the jurisdiction_id."
        )


class OutsideEveryJurisdiction(Exception):
    """A located report without a jurisdiction_id falls in no served jurisdiction."""

    def __init__(self, lat: float, long: float, served: int) -> None:
        super().__init__(
            f"The location ({lat}, {long}) is outside all {served} jurisdictions this gateway "
            "serves (jurisdictions.geojson shows where it takes reports). Check the "
            "coordinates (lat, long in WGS84) or send a jurisdiction_id."
        )


@dataclass(frozen=True)
class Destination:
    agency: str
    primary: bool


class AreaIndex:
    """Point-in-polygon over all configured areas."""

    def __init__(self, areas: Mapping[str, Area]) -> None:
        geoms = []
        names: list[frozenset[str]] = []
        self.titles: dict[str, str] = {}
        self.sizes: dict[str, float] = {}
        # A region's 169 towns share one file: read and prepare it once.
        files: dict[Path, list[tuple[BaseGeometry, dict]]] = {}
        for area in areas.values():
            self.titles[area.id] = area.name or area.id
            try:
                if area.file not in files:
                    files[area.file] = _features(area.file)
            except ConfigError as exc:
                # Name the key to fix as well as the file; Router adds the config file.
                raise ConfigError(f"{area.origin or area.id}: {exc}") from exc
            features = files[area.file]
            if area.match is not None:
                prop, value = area.match
                features = [(g, p) for g, p in features if p.get(prop) == value]
            # Planar area in degrees²: only ever compared with another nearby area's.
            self.sizes[area.id] = sum(g.area for g, _ in features)
            for geom, props in features:
                labels = {area.id}
                if area.key is not None and props.get(area.key) is not None:
                    labels.add(f"{area.id}:{props[area.key]}")
                    self.titles.setdefault(f"{area.id}:{props[area.key]}", str(props[area.key]))
                geoms.append(geom)
                names.append(frozenset(labels))
        self._names = names
        self._geoms = geoms
        self._tree = STRtree(geoms) if geoms else None
        self.known = frozenset().union(*names) if names else frozenset()

    def names_at(self, lat: float, long: float) -> frozenset[str]:
        if self._tree is None:
            return frozenset()
        hits = self._tree.query(shapely.Point(long, lat), predicate="intersects")
        return frozenset().union(*(self._names[i] for i in hits)) if len(hits) else frozenset()

    def outlines_within(
        self, bounds: tuple[float, float, float, float]
    ) -> list[tuple[str, BaseGeometry]]:
        """Every polygon that crosses the box (west, south, east, north), with its most
        specific title (a feature of an area before the area), for drawing maps."""
        if self._tree is None:
            return []
        hits = self._tree.query(shapely.box(*bounds), predicate="intersects")
        found = []
        for i in sorted(int(h) for h in hits):
            label = max(self._names[i], key=lambda name: (":" in name, name))
            found.append((self.titles.get(label, label), self._geoms[i]))
        return found

    def geometry(self, name: str) -> BaseGeometry | None:
        """Every polygon that carries the name, as one geometry (None if there is none)."""
        parts = [g for g, labels in zip(self._geoms, self._names, strict=True) if name in labels]
        return shapely.union_all(parts) if parts else None


def file_geometry(path: Path) -> BaseGeometry:
    """The union of a GeoJSON file's polygons; ConfigError when it is not usable."""
    return shapely.union_all([geom for geom, _ in _features(path)])


def _features(path: Path) -> list[tuple[BaseGeometry, dict]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable GeoJSON file ({exc}).") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a GeoJSON object (found a JSON {type(doc).__name__}).")
    if doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise ConfigError(f"{path}: a FeatureCollection needs a list of features.")
    elif doc.get("type") == "Feature":
        features = [doc]
    else:
        features = [{"type": "Feature", "geometry": doc, "properties": {}}]
    out = []
    for i, feature in enumerate(features):
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            raise ConfigError(f"{path}: feature {i} has no geometry.")
        try:
            geom = shape(feature["geometry"])
        # shape() reports a malformed geometry in many ways (an unknown type is a
        # GeometryTypeError, a missing "type" an AttributeError); all mean the same here.
        except (
            AttributeError,
            KeyError,
            TypeError,
            ValueError,
            shapely.errors.ShapelyError,
        ) as exc:
            raise ConfigError(f"{path}: feature {i} has no usable geometry ({exc}).") from exc
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise ConfigError(f"{path}: feature {i} is a {geom.geom_type}; areas are polygons.")
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        shapely.prepare(geom)
        out.append((geom, feature.get("properties") or {}))
    return out


class Router:
    def __init__(self, catalog: Catalog, index: AreaIndex | None = None) -> None:
        self.catalog = catalog
        try:
            self.index = index or AreaIndex(catalog.areas)
        except ConfigError as exc:
            raise ConfigError(f"{catalog.source}: {exc}") from exc
        # Boundary area id -> configuration order, the tie-break of jurisdictions_at.
        self._order = {
            f"jurisdiction:{j}": i
            for i, j in enumerate(catalog.jurisdictions)
            if f"jurisdiction:{j}" in self.index.sizes
        }
        for service in catalog.services.values():
            if service.area is not None and service.area not in self.index.known:
                raise ConfigError(
                    f"{catalog.source}: service {service.code} ({service.jurisdiction}): "
                    f"area {service.area!r} names no polygon (check the area's key property)."
                )
        for i, route in enumerate(catalog.routes):
            for where, names in (("within", route.within), ("outside", route.outside)):
                for name in names:
                    if name not in self.index.known:
                        raise ConfigError(
                            f"{catalog.source}: routes[{i}].when.{where}: no polygon is "
                            f"named {name!r} (check the area's key property)."
                        )

    def jurisdictions_at(self, lat: float, long: float) -> list[str]:
        """The jurisdictions whose boundary holds the point, best first: the smallest
        boundary first (an enclave before the town around it; on a shared border, the
        smaller town), then configuration order. A point on a border counts as inside."""
        found = [n for n in self.index.names_at(lat, long) if n in self._order]
        found.sort(key=lambda n: (self.index.sizes[n], self._order[n]))
        return [n.removeprefix("jurisdiction:") for n in found]

    def locates(self) -> bool:
        """Whether a point picks the jurisdiction: several are served, some with a boundary.
        With one jurisdiction a point only decides whether a service covers it."""
        return len(self.catalog.jurisdictions) > 1 and bool(self._order)

    def jurisdiction_for(self, lat: float, long: float) -> str:
        """The jurisdiction a located report without a jurisdiction_id goes to: the first
        of `jurisdictions_at`, else a default jurisdiction that has no boundary (it takes
        reports from anywhere). Raises OutsideEveryJurisdiction."""
        found = self.jurisdictions_at(lat, long)
        if found:
            return found[0]
        default = self.catalog.gateway.default_jurisdiction
        if default is not None and self.catalog.jurisdictions[default].boundary is None:
            return default
        raise OutsideEveryJurisdiction(lat, long, len(self.catalog.jurisdictions))

    def areas_at(self, lat: float | None, long: float | None) -> frozenset[str]:
        if lat is None or long is None:
            return frozenset()
        return self.index.names_at(lat, long)

    def covers(self, service: Service, names: frozenset[str], located: bool) -> bool:
        # A report with only an address cannot be placed here; it is accepted and the
        # agency places it. Only a located report can be outside.
        return service.area is None or not located or service.area in names

    def may_reach(self, service: Service, agency: str) -> bool:
        """Whether a report of `service` can go to `agency`, first or as a copy, from some
        place with some answers: its own agency, or a route about it that names the agency
        (its conditions on the place and the answers left aside)."""
        return service.agency == agency or any(
            agency in (*r.to, *r.copy_to) for r in self.catalog.routes if _names(r, service)
        )

    def route(
        self,
        service: Service,
        lat: float | None,
        long: float | None,
        attributes: Mapping[str, str | list[str]],
    ) -> list[Destination]:
        located = lat is not None and long is not None
        names = self.areas_at(lat, long)
        if service.area is not None and not self.covers(service, names, located):
            raise OutsideServiceArea(service, self.index.titles.get(service.area, service.area))
        for route in self.catalog.routes:
            if _matches(route, service, names, located, attributes):
                primary = [Destination(a, i == 0) for i, a in enumerate(route.to)]
                return primary + [Destination(a, False) for a in route.copy_to if a not in route.to]
        return [Destination(service.agency, True)]


def _names(route: Route, service: Service) -> bool:
    """Whether the route is about this service at all (its jurisdiction, code or group)."""
    if route.jurisdiction and route.jurisdiction != service.jurisdiction:
        return False
    if route.services and service.code not in route.services:
        return False
    return not (route.groups and service.group not in route.groups)


def _matches(
    route: Route,
    service: Service,
    names: frozenset[str],
    located: bool,
    attributes: Mapping[str, str | list[str]],
) -> bool:
    if not _names(route, service):
        return False
    if route.within and not (located and any(n in names for n in route.within)):
        return False
    if route.outside and not (located and not any(n in names for n in route.outside)):
        return False
    for code, wanted in route.attributes.items():
        given = attributes.get(code)
        values = given if isinstance(given, list) else [given] if given is not None else []
        if not any(v in wanted for v in values):
            return False
    return True
