"""A configuration whose routes or areas cannot work is refused at start-up, with a message
that names the file and the key to fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from open311 import create_app
from open311.catalog import ConfigError, load_catalog
from open311.cli import main
from open311.routing import Router

from .conftest import cut_three_towns, refused_at_start, write_config

BASE: dict[str, Any] = {
    "gateway": {"contact": "Test desk", "key_service": "Ask", "endpoint_type": "test"},
    "jurisdictions": [{"id": "region.example", "name": "Region"}],
    "areas": [{"id": "towns", "name": "Towns", "file": "towns.geojson", "key": "town"}],
    "agencies": [
        {"id": "roads", "name": "Roads", "adapter": "inbox"},
        {"id": "hamden", "name": "Hamden", "adapter": "inbox"},
    ],
    "services": [
        {"code": "POTHOLE", "name": "Pothole", "description": "A pothole.", "agency": "roads"}
    ],
    "routes": [{"name": "Hamden", "when": {"within": "towns:Hamden"}, "to": "hamden"}],
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return cut_three_towns(tmp_path)


def write(folder: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    return write_config(folder, BASE, change)


def start(path: Path) -> Router:
    """What the gateway does with the file at start-up (and `open311 check-config`)."""
    return Router(load_catalog(path))


refused = refused_at_start


def test_the_base_configuration_is_fine(folder: Path) -> None:
    router = start(write(folder))
    assert "towns:Hamden" in router.index.known


# --- routes naming what does not exist --------------------------------------------------------


def test_route_to_an_unknown_agency(folder: Path) -> None:
    path = write(folder, lambda c: c["routes"][0].update(to="nobody"))
    refused(path, "routes[0].to", "Unknown agency 'nobody'")


def test_route_copy_to_an_unknown_agency(folder: Path) -> None:
    path = write(folder, lambda c: c["routes"][0].update(copy_to=["roads", "nobody"]))
    refused(path, "routes[0]", "Unknown agency 'nobody'")


def test_route_naming_an_unknown_service(folder: Path) -> None:
    path = write(folder, lambda c: c["routes"][0]["when"].update(services=["POTHOL"]))
    refused(path, "routes[0].when.services", "Unknown service 'POTHOL'")


def test_route_naming_an_unknown_group(folder: Path) -> None:
    path = write(folder, lambda c: c["routes"][0]["when"].update(groups=["Streetz"]))
    refused(path, "routes[0].when.groups", "Unknown group 'Streetz'")


def test_route_within_an_unknown_area(folder: Path) -> None:
    path = write(folder, lambda c: c["routes"][0]["when"].update(within="parks"))
    refused(path, "routes[0].when.within", "Unknown area 'parks'")


def test_route_outside_an_unknown_area(folder: Path) -> None:
    path = write(folder, lambda c: c["routes"][0]["when"].update(outside="parks"))
    refused(path, "routes[0]", "Unknown area 'parks'")


def test_route_naming_a_feature_no_polygon_has(folder: Path) -> None:
    def change(config: dict[str, Any]) -> None:
        config["routes"].insert(0, {"when": {"services": "POTHOLE"}, "to": "roads"})
        config["routes"][1]["when"]["within"] = ["towns:Hamden", "towns:Atlantis"]

    refused(write(folder, change), "routes[1].when.within", "'towns:Atlantis'", "key")


def test_route_outside_a_feature_no_polygon_has(folder: Path) -> None:
    path = write(folder, lambda c: c["routes"][0]["when"].update(outside="towns:Atlantis"))
    refused(path, "routes[0].when.outside", "'towns:Atlantis'")


def test_area_key_that_no_feature_carries(folder: Path) -> None:
    # The features are named by `town`; `name` is in none of them.
    path = write(folder, lambda c: c["areas"][0].update(key="name"))
    refused(path, "routes[0].when.within", "'towns:Hamden'")


# --- services limited to an area that does not exist ----------------------------------------------


def test_service_in_an_unknown_area(folder: Path) -> None:
    path = write(folder, lambda c: c["services"][0].update(area="parks"))
    refused(path, "services[0].area", "Unknown area 'parks'")


def test_service_in_a_feature_no_polygon_has(folder: Path) -> None:
    # Otherwise every located report of the service would be refused as "outside".
    path = write(folder, lambda c: c["services"][0].update(area="towns:Atlantis"))
    refused(path, "POTHOLE", "'towns:Atlantis'")


# --- GeoJSON files --------------------------------------------------------------------------


BROKEN_GEOJSON = {
    "truncated": '{"type": "FeatureCollection", "features": [',
    "not-json": "town,geometry\nHamden,POLYGON",
    "a-list": "[]",
    "null-features": '{"type": "FeatureCollection", "features": null}',
    "null-geometry": '{"type": "FeatureCollection", "features": '
    '[{"type": "Feature", "properties": {"town": "Hamden"}, "geometry": null}]}',
    "unknown-geometry-type": '{"type": "Feature", "properties": {}, '
    '"geometry": {"type": "Blob", "coordinates": []}}',
    "too-few-coordinates": '{"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}',
    "text-coordinates": '{"type": "Polygon", "coordinates": "x"}',
    "a-point": '{"type": "Point", "coordinates": [-72.9, 41.3]}',
}


@pytest.mark.parametrize("name", sorted(BROKEN_GEOJSON))
def test_broken_area_file(folder: Path, name: str) -> None:
    (folder / "towns.geojson").write_text(BROKEN_GEOJSON[name], encoding="utf-8")
    refused(write(folder), "areas[0].file", "towns.geojson")


def test_broken_jurisdiction_boundary(folder: Path) -> None:
    (folder / "region.geojson").write_text("{", encoding="utf-8")
    path = write(folder, lambda c: c["jurisdictions"][0].update(boundary="region.geojson"))
    refused(path, "jurisdictions[0].boundary", "region.geojson")


def test_missing_area_file(folder: Path) -> None:
    path = write(folder, lambda c: c["areas"][0].update(file="wards.geojson"))
    refused(path, "areas[0].file", "file not found: wards.geojson")


# --- what an operator sees --------------------------------------------------------------------


def test_check_config_exits_1_with_the_message(folder: Path) -> None:
    path = write(folder, lambda c: c["services"][0].update(area="towns:Atlantis"))
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 1
    assert "POTHOLE" in result.output and "towns:Atlantis" in result.output
    assert CliRunner().invoke(main, ["check-config", str(write(folder))]).exit_code == 0


def test_the_app_does_not_start(folder: Path, tmp_path: Path) -> None:
    (folder / "towns.geojson").write_text("[]", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"areas\[0\]\.file"):
        create_app({"CONFIG": str(write(folder)), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})


def test_a_file_that_is_not_yaml_is_refused_with_the_line_quoted(tmp_path: Path) -> None:
    """The configuration parses with libyaml, whose messages give only the position; the
    operator reads the pure-Python parser's, which quotes the line and points at it."""
    path = tmp_path / "config.yaml"
    path.write_text("gateway:\n  contact: [Test desk\n  endpoint_type: test\n")
    with pytest.raises(ConfigError) as refused_here:
        load_catalog(path)
    message = str(refused_here.value)
    assert message.startswith(f"{path}: not valid YAML: ")
    assert "line 2, column 12:\n      contact: [Test desk\n               ^" in message
