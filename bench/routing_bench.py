"""Routing at state scale: Connecticut's 169 towns as one area, one route per town, and
single points through `Router.route` as the API does for each report."""

from __future__ import annotations

import gc
import json
import random
import re
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

from open311.catalog import load_catalog
from open311.routing import OutsideServiceArea, Router

from .procs import BENCH, rss_mb

CT_TOWNS = BENCH.parent / "tests" / "data" / "ct-towns.geojson"
# Connecticut's bounding box (lat, long); random points in it fall in a town about two
# times in three, the rest in the sea or a neighbouring state.
CT_BOX = ((40.95, 42.06), (-73.73, -71.78))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _config(folder: Path, towns: list[str]) -> Path:
    config = {
        "gateway": {"contact": "bench", "key_service": "bench", "rate_limits": {"enabled": False}},
        "jurisdictions": [{"id": "ct.example", "name": "Connecticut"}],
        "areas": [
            {"id": "towns", "name": "Connecticut towns", "file": str(CT_TOWNS), "key": "town"}
        ],
        "agencies": [{"id": "fallback", "name": "Fallback", "adapter": "inbox"}]
        + [{"id": _slug(t), "name": t, "adapter": "inbox"} for t in towns],
        "services": [
            {
                "code": "POTHOLE",
                "name": "Pothole",
                "description": "A pothole anywhere in the state.",
                "agency": "fallback",
                "area": "towns",
            }
        ],
        "routes": [{"name": t, "when": {"within": f"towns:{t}"}, "to": _slug(t)} for t in towns],
    }
    path = folder / "statewide.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _timed(points: list[tuple[float, float]], call: Any, seconds: float) -> tuple[int, float, int]:
    """(calls, elapsed, how many raised OutsideServiceArea), stopping at the time limit."""
    outside = 0
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    for lat, long in points:
        try:
            call(lat, long)
        except OutsideServiceArea:
            outside += 1
        done += 1
        if done % 500 == 0 and time.perf_counter() > deadline:
            break
    return done, time.perf_counter() - started, outside


def run(seconds: float = 2.0, points: int = 40_000) -> dict[str, Any]:
    towns = sorted(f["properties"]["town"] for f in json.loads(CT_TOWNS.read_text())["features"])
    with tempfile.TemporaryDirectory() as folder:
        catalog = load_catalog(_config(Path(folder), towns))
    service = catalog.service("ct.example", "POTHOLE")
    assert service is not None

    # Memory: GEOS keeps the polygons outside Python's allocator, so tracemalloc sees only
    # the Python side; the RSS delta (after a collection) sees both.
    gc.collect()
    rss_before = rss_mb()
    tracemalloc.start()
    started = time.perf_counter()
    router = Router(catalog)
    build_seconds = time.perf_counter() - started
    gc.collect()
    python_now, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = rss_mb()

    rng = random.Random(311)
    box = [(rng.uniform(*CT_BOX[0]), rng.uniform(*CT_BOX[1])) for _ in range(points)]
    inside = [p for p in box if router.areas_at(*p)]
    # Warm up (first calls build caches), then time.
    _timed(inside[:500], lambda la, lo: router.route(service, la, lo, {}), 5)
    routed, routed_s, _ = _timed(inside, lambda la, lo: router.route(service, la, lo, {}), seconds)
    mixed, mixed_s, outside = _timed(box, lambda la, lo: router.route(service, la, lo, {}), seconds)
    looked, looked_s, _ = _timed(box, router.areas_at, seconds)
    return {
        "towns": len(towns),
        "routes": len(catalog.routes),
        "polygons_file_mb": round(CT_TOWNS.stat().st_size / 1e6, 2),
        "index_build_s": round(build_seconds, 3),
        "index_rss_delta_mb": round(rss_after - rss_before, 1),
        "index_python_mb": round(python_now / 1e6, 2),
        "index_python_peak_mb": round(python_peak / 1e6, 2),
        "route_per_s_inside": round(routed / routed_s),
        "route_us_inside": round(routed_s / routed * 1e6, 1),
        "route_per_s_mixed": round(mixed / mixed_s),
        "mixed_outside_share": round(outside / mixed, 3),
        "areas_at_per_s": round(looked / looked_s),
        "points_timed": {"inside": routed, "mixed": mixed, "areas_at": looked},
    }
