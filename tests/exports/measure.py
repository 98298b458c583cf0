"""Run by tests/exports/test_memory.py in a fresh process: serves the app over a real
loopback HTTP server, reads one export kind for two windows in chunks, and prints the
sizes and the peak of Python allocations (tracemalloc) as one JSON line.

    python -m tests.exports.measure DATABASE_URL CONFIG KIND YEAR_PARAMS QUARTER_PARAMS
"""

from __future__ import annotations

import json
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from werkzeug.serving import make_server

from open311 import create_app

from .common import API


@contextmanager
def served(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{API}"
    finally:
        server.shutdown()
        thread.join()


def measured(url: str, params: dict[str, str]) -> tuple[int, int, int]:
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


def main(db_url: str, config: str, kind: str, year: str, quarter: str) -> None:
    app = create_app(
        {"DATABASE_URL": db_url, "CONFIG": config, "TESTING": True, "RATELIMIT_ENABLED": False}
    )
    with served(app) as base:
        requests.get(f"{base}/requests.{kind}", params={"page_size": 5}, timeout=30)  # warm
        started = time.monotonic()
        size, lines, peak = measured(f"{base}/requests.{kind}", json.loads(year))
        seconds = time.monotonic() - started
        small_size, _, small_peak = measured(f"{base}/requests.{kind}", json.loads(quarter))
    figures = {"size": size, "lines": lines, "peak": peak, "seconds": seconds}
    print(json.dumps({**figures, "small_size": small_size, "small_peak": small_peak}))


if __name__ == "__main__":
    main(*sys.argv[1:6])
