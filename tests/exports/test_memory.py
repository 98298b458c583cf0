"""An export streams: a year of 20,000 reports goes out over a real loopback HTTP server
while the process's Python allocations peak at a small, constant fraction of the answer
(tracemalloc, in a fresh process: the server thread and the client reading in chunks
together; tests/exports/measure.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from open311.synthetic import SeedPlan, seed

pytestmark = pytest.mark.serial  # timed: run alone, after the parallel part (Makefile)

TOWN = Path(__file__).with_name("town.yaml")
REPO = Path(__file__).resolve().parents[2]
COUNT = 20_000


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    return {
        "DATABASE_URL": db_url,
        "CONFIG": str(TOWN),
        "TESTING": True,
        "RATELIMIT_ENABLED": False,
    }


def _w3c(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_year_exports_in_constant_memory(app: Any, db_url: str, capsys: Any) -> None:
    gw = app.extensions["open311"]
    written = seed(gw.db, gw.catalog, gw.router, SeedPlan(COUNT, years=1.0))
    public = written.requests - written.private
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    year = {"start_date": _w3c(end - timedelta(days=366)), "end_date": _w3c(end)}
    quarter = {"start_date": _w3c(end - timedelta(days=60)), "end_date": _w3c(end)}
    for kind in ("csv", "geojson"):
        # Measured in a fresh process: tracemalloc counts every thread's allocations, and
        # threads and caches left by earlier tests in this one would count as the export's.
        command = [sys.executable, "-m", "tests.exports.measure", db_url, str(TOWN), kind]
        done = subprocess.run(
            [*command, json.dumps(year), json.dumps(quarter)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        size, lines, peak = figures["size"], figures["lines"], figures["peak"]
        small_size, small_peak = figures["small_size"], figures["small_peak"]
        with capsys.disabled():
            print(
                f"\n{kind}: {public} reports, {size / 1e6:.1f} MB in {figures['seconds']:.1f} s "
                f"(tracemalloc on); peak {peak / 1e6:.2f} MB; 60 days: "
                f"{small_size / 1e6:.1f} MB, peak {small_peak / 1e6:.2f} MB"
            )
        if kind == "csv":
            assert lines == public + 1  # the header, then every public report
        else:
            assert lines == public  # one Feature a line, the last ends the collection
        assert size > 4 * small_size  # the year is much more than the 60 days ...
        assert peak < size / 2  # ... held in a part of its size (a batch of rows) ...
        assert peak < 2 * small_peak + 256 * 1024  # ... which does not grow with it
