"""A region in the configuration: one jurisdiction per feature of a boundary file, a shared
catalogue, towns that extend or override it; a mistake is refused at start-up with the key
path to fix. And the overlap rule, on boundaries that overlap rather than touch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from open311 import create_app
from open311.catalog import load_catalog
from open311.routing import Router
from tests.helpers import HAMDEN_CENTRE, HOUSING_PROPERTY, NEW_HAVEN_GREEN, parse
from tests.routing.conftest import (
    cut_three_towns,
    deliveries,
    refused_at_start,
    submit,
    write_config,
)

DEMO_BOUNDARIES = Path(__file__).parents[2] / "open311" / "demo" / "boundaries"

BASE: dict[str, Any] = {
    "gateway": {"contact": "Test desk", "key_service": "Ask", "endpoint_type": "test"},
    "regions": [
        {
            "boundaries": "towns.geojson",
            "id_property": "town",
            "id_format": "{}.test",
            "name_property": "town",
            "services": [
                {
                    "code": "POTHOLE",
                    "name": "Pothole",
                    "description": "A pothole.",
                    "agency": "roads",
                },
                {"code": "LITTER", "name": "Litter", "description": "Litter.", "agency": "roads"},
            ],
            "overrides": {
                "hamden.test": {
                    "name": "Town of Hamden",
                    "agencies": {"POTHOLE": "hamden"},
                    "without": ["LITTER"],
                    "services": [
                        {
                            "code": "BULKY",
                            "name": "Bulky",
                            "description": "Bulky.",
                            "agency": "hamden",
                        }
                    ],
                }
            },
        }
    ],
    "agencies": [
        {"id": "roads", "name": "Roads", "adapter": "inbox"},
        {"id": "hamden", "name": "Hamden", "adapter": "inbox"},
    ],
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return cut_three_towns(tmp_path)


def write(folder: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    return write_config(folder, BASE, change)


refused = refused_at_start


def test_a_region_makes_a_jurisdiction_per_feature_with_the_shared_catalogue(folder: Path) -> None:
    catalog = load_catalog(write(folder))
    assert list(catalog.jurisdictions) == ["hamden.test", "new-haven.test", "west-haven.test"]
    assert catalog.jurisdictions["new-haven.test"].name == "New Haven"
    assert catalog.jurisdictions["hamden.test"].name == "Town of Hamden"
    codes = {j: sorted(s.code for s in catalog.services_in(j)) for j in catalog.jurisdictions}
    assert codes == {
        "hamden.test": ["BULKY", "POTHOLE"],
        "new-haven.test": ["LITTER", "POTHOLE"],
        "west-haven.test": ["LITTER", "POTHOLE"],
    }
    assert catalog.service("hamden.test", "POTHOLE").agency == "hamden"  # type: ignore[union-attr]
    assert catalog.service("west-haven.test", "POTHOLE").agency == "roads"  # type: ignore[union-attr]
    # Each town's services are bounded by that town.
    assert catalog.service("west-haven.test", "LITTER").area == "jurisdiction:west-haven.test"  # type: ignore[union-attr]
    router = Router(catalog)
    assert router.jurisdiction_for(*HAMDEN_CENTRE) == "hamden.test"
    assert router.jurisdiction_for(*NEW_HAVEN_GREEN) == "new-haven.test"


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (
            lambda c: c["regions"][0]["overrides"].update({"atlantis.test": {}}),
            ("regions[0].overrides.atlantis.test", "no feature", "'hamden.test'"),
        ),
        (
            lambda c: c["regions"][0].update(id_property="name"),
            ("regions[0].id_property", "feature 0 has no usable 'name'"),
        ),
        (
            lambda c: c["regions"][0].update(boundaries="nowhere.geojson"),
            ("regions[0].boundaries", "file not found"),
        ),
        (
            lambda c: c["regions"][0]["services"][0].update(agency="nobody"),
            ("regions[0].services[0].agency", "Unknown agency 'nobody'"),
        ),
        (
            lambda c: c["regions"][0]["services"][0].update(jurisdiction="x.test"),
            ("regions[0].services[0].jurisdiction", "belong to each of its towns"),
        ),
        (
            lambda c: c["regions"][0]["overrides"]["hamden.test"]["agencies"].update(
                LITTER="nobody"
            ),
            ("regions[0].overrides.hamden.test.agencies.LITTER", "Unknown agency 'nobody'"),
        ),
        (
            lambda c: c["regions"][0]["overrides"]["hamden.test"]["agencies"].update(NOPE="roads"),
            ("regions[0].overrides.hamden.test.agencies.NOPE", "No service 'NOPE'"),
        ),
        (
            lambda c: c["regions"][0]["overrides"]["hamden.test"].update(without=["NOPE"]),
            ("regions[0].overrides.hamden.test.without", "'NOPE'"),
        ),
        (
            lambda c: c["regions"][0]["overrides"]["hamden.test"]["services"][0].update(
                area="parks"
            ),
            ("regions[0].overrides.hamden.test.services[0].area", "Unknown area 'parks'"),
        ),
        (
            lambda c: c["regions"][0].update(id_format="town"),
            ("regions[0].id_format", "exactly one {}"),
        ),
        (
            lambda c: c["regions"][0].update(colour="blue"),
            ("regions[0].colour", "Unknown field"),
        ),
        (
            lambda c: c.update(regions=[]),
            ("jurisdictions", "at least one jurisdiction"),
        ),
        (
            lambda c: c.update(jurisdictions=[{"id": "hamden.test", "name": "Hamden"}]),
            ("regions[0].id_property", "'hamden.test' appears and as a jurisdiction"),
        ),
        (
            lambda c: c["gateway"].update(default_jurisdiction="atlantis.test"),
            ("gateway.default_jurisdiction", "Unknown jurisdiction 'atlantis.test'"),
        ),
    ],
    ids=[
        "override-unknown-town",
        "id-property-missing",
        "boundaries-missing",
        "service-agency",
        "service-jurisdiction",
        "override-agency-unknown",
        "override-agency-for-unknown-service",
        "without-unknown",
        "override-service-area",
        "id-format",
        "unknown-key",
        "no-jurisdictions",
        "id-clash",
        "default-unknown",
    ],
)
def test_config_errors_name_the_key_path(
    folder: Path, change: Callable[[dict[str, Any]], None], fragments: tuple[str, ...]
) -> None:
    refused(write(folder, change), *fragments)


# --- overlapping boundaries ---------------------------------------------------------------


def overlapping(tmp_path: Path) -> Path:
    """Two jurisdictions with the same boundary (New Haven), then an enclave inside it (the
    housing-authority properties), listed last."""
    for name in ("new-haven.geojson", "housing-authority-properties.geojson"):
        (tmp_path / name).write_bytes((DEMO_BOUNDARIES / name).read_bytes())
    config = {
        "gateway": {"contact": "Test", "key_service": "Ask", "endpoint_type": "test"},
        "jurisdictions": [
            {"id": "first.test", "name": "First", "boundary": "new-haven.geojson"},
            {"id": "second.test", "name": "Second", "boundary": "new-haven.geojson"},
            {
                "id": "enclave.test",
                "name": "Enclave",
                "boundary": "housing-authority-properties.geojson",
            },
        ],
        "agencies": [{"id": a, "name": a, "adapter": "inbox"} for a in ("one", "two", "three")],
        "services": [
            {"code": "POTHOLE", "name": "P", "description": "P", "agency": a, "jurisdiction": j}
            for a, j in (("one", "first.test"), ("two", "second.test"), ("three", "enclave.test"))
        ],
    }
    path = tmp_path / "overlap.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def test_overlapping_boundaries_smallest_first_then_configuration_order(tmp_path: Path) -> None:
    router = Router(load_catalog(overlapping(tmp_path)))
    assert router.jurisdictions_at(*NEW_HAVEN_GREEN) == ["first.test", "second.test"]
    assert router.jurisdictions_at(*HOUSING_PROPERTY) == [
        "enclave.test",
        "first.test",
        "second.test",
    ]


def test_overlapping_boundaries_through_the_api(tmp_path: Path, db_url: str, fmt: str) -> None:
    app = create_app(
        {"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(overlapping(tmp_path))}
    )
    try:
        from tests.conftest import make_key

        key = make_key(app, "overlap")
        client = app.test_client()
        cases = [
            (HOUSING_PROPERTY, {}, "three"),  # the enclave, smallest
            (NEW_HAVEN_GREEN, {}, "one"),  # same size: the first configured
            (NEW_HAVEN_GREEN, {"jurisdiction_id": "second.test"}, "two"),  # named wins
        ]
        for (lat, long), named, agency in cases:
            rid = submit(client, fmt, key, service_code="POTHOLE", lat=lat, long=long, **named)
            assert deliveries(app, rid) == [(agency, True)], (lat, long, named)
        listed = client.get(
            f"/open311/v2/services.{fmt}",
            query_string={
                "lat": HOUSING_PROPERTY[0],
                "long": HOUSING_PROPERTY[1],
                "extensions": "true",
            },
        )
        assert [s["jurisdiction_id"] for s in parse(listed, fmt)] == ["enclave.test"]
    finally:
        app.extensions["open311"].db.dispose()
