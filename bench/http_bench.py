"""The GeoReport API under gunicorn on loopback: POST requests.json, GET requests.json
(50 rows an answer), GET services.json, then the memory of the workers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from open311.db import Database
from open311.keys import create_key
from open311.migrate import upgrade

from .loadgen import LoadGenerator
from .procs import children, free_port, rss_mb, start_server, stop_group

FORM = "application/x-www-form-urlencoded"


def _key(url: str) -> str:
    database = Database(url)
    try:
        with database.write() as session, session.begin():
            return create_key(session, f"bench-{time.time_ns()}")
    finally:
        database.dispose()


def _warm(session: requests.Session, base: str, body: str) -> None:
    # First requests import and compile lazily in each worker; keep them out of the figures.
    for _ in range(20):
        session.post(f"{base}/requests.json", data=body, headers={"Content-Type": FORM}, timeout=10)
        session.get(f"{base}/services.json", timeout=10)
        session.get(f"{base}/requests.json", params={"page_size": 50}, timeout=10)


def run(
    label: str,
    url: str,
    workers: int,
    threads: int,
    load: LoadGenerator,
    seconds: float,
    log: Path,
    worker_class: str,
) -> dict[str, Any]:
    upgrade(url)
    body = urlencode(
        {
            "api_key": _key(url),
            "service_code": "POTHOLE",
            "lat": "41.3083",
            "long": "-72.9279",
            "description": "A pothole about the size of a bicycle wheel, in the bus lane.",
            "attribute[DEPTH_CM]": "8",
        }
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}/open311/v2"
    server = start_server(url, port, workers, threads, log, worker_class)
    try:
        with requests.Session() as session:
            _warm(session, base, body)
            post = load.run(
                f"{base}/requests.json", seconds, method="POST", body=body, content_type=FORM
            )
            rows = len(session.get(f"{base}/requests.json?page_size=50", timeout=10).json())
            listing = load.run(f"{base}/requests.json?page_size=50", seconds)
            services = load.run(f"{base}/services.json", seconds)
        worker_rss = [rss_mb(pid) for pid in children(server.pid)]
        master_rss = rss_mb(server.pid)
    finally:
        stop_group(server)
    return {
        "database": label,
        "worker_class": worker_class,
        "workers": workers,
        "threads": threads,
        "post_requests": post.as_dict(),
        "get_requests_50": {**listing.as_dict(), "rows_per_answer": rows},
        "get_services": services.as_dict(),
        "worker_rss_mb": worker_rss,
        "master_rss_mb": master_rss,
    }
