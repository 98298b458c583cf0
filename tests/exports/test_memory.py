"""An export streams: a year of 20,000 reports goes out over a real loopback HTTP server
while the process's Python allocations peak at a small, constant fraction of the answer
(tracemalloc: the server thread and the client reading in chunks together)."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from open311.synthetic import SeedPlan, seed

from .common import API

TOWN = Path(__file__).with_name("town.yaml")
COUNT = 20_000


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    return {
        "DATABASE_URL": db_url,
        "CONFIG": str(TOWN),
        "TESTING": True,
        "RATELIMIT_ENABLED": False,
    }


@pytest.fixture
def base(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}{API}"
    server.shutdown()
    thread.join()


def _w3c(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _measured(url: str, params: dict[str, str]) -> tuple[int, int, int]:
    """(bytes, lines, peak bytes allocated while the answer was made and read)."""
    tracemalloc.start()
    size = lines = 0
    with requests.get(url, params=params, stream=True, timeout=60) as answer:
        assert answer.status_code == 200, answer.text[:300]
        assert "Content-Length" not in answer.headers  # not made whole first: streamed
        for chunk in answer.iter_content(64 * 1024):
            size += len(chunk)
            lines += chunk.count(b"\n")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return size, lines, peak


def test_a_year_exports_in_constant_memory(app: Any, base: str, capsys: Any) -> None:
    gw = app.extensions["open311"]
    written = seed(gw.db, gw.catalog, gw.router, SeedPlan(COUNT, years=1.0))
    public = written.requests - written.private
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    year = {"start_date": _w3c(end - timedelta(days=366)), "end_date": _w3c(end)}
    quarter = {"start_date": _w3c(end - timedelta(days=60)), "end_date": _w3c(end)}
    for kind in ("csv", "geojson"):
        requests.get(f"{base}/requests.{kind}", params={"page_size": 5}, timeout=30)  # warm
        started = time.monotonic()
        size, lines, peak = _measured(f"{base}/requests.{kind}", year)
        seconds = time.monotonic() - started
        small_size, _, small_peak = _measured(f"{base}/requests.{kind}", quarter)
        with capsys.disabled():
            print(
                f"\n{kind}: {public} reports, {size / 1e6:.1f} MB in {seconds:.1f} s "
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
