"""A real `open311 serve` (two gunicorn workers and the embedded delivery worker, JSON
logs): /metrics adds up what every process counted, starts from zero although the
metrics folder held an earlier run's files, and every log line is JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.backend import Backend

from .conftest import open311_env, run_open311, serving
from .test_ops import value

pytestmark = pytest.mark.server

STALE = """
from prometheus_client import Counter
Counter("open311_http_requests", "x", ["route", "method", "status"]).labels(
    "/stale-from-last-run", "GET", "200").inc(1000)
"""


def test_metrics_add_up_across_processes_and_logs_are_json(
    tmp_path: Path, backend: Backend
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = open311_env(
        f"sqlite:///{tmp_path}/gateway.db",
        OPEN311_LOG_FORMAT="json",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        TEST_BACKEND_URL=backend.url,
    )
    stale = subprocess.run([sys.executable, "-c", STALE], env=env, timeout=30)
    assert stale.returncode == 0 and list(metrics_dir.glob("*.db"))
    made = run_open311(["keys", "create", "live-metrics"], env, tmp_path)
    key = made.stdout.strip()
    with serving(env, tmp_path, "--workers", "2") as root:
        for _ in range(20):
            assert requests.get(f"{root}/open311/v2/services.json", timeout=10).status_code == 200
        for n in range(6):
            data = {"api_key": key, "service_code": "POTHOLE", "address_string": f"{n} Elm St"}
            posted = requests.post(f"{root}/open311/v2/requests.json", data=data, timeout=10)
            assert posted.status_code == 200, posted.text
        deadline = time.monotonic() + 30
        while len(backend.received) < 6 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(backend.received) == 6
        time.sleep(0.5)  # the acknowledgement follows the back-end's answer
        text = requests.get(f"{root}/metrics", timeout=10).text
    services = {"route": "/open311/v2/services.<fmt>", "method": "GET", "status": "200"}
    assert value(text, "open311_http_requests_total", **services) == 20
    created = {"route": "/open311/v2/requests.<fmt>", "method": "POST", "status": "200"}
    assert value(text, "open311_http_requests_total", **created) == 6
    # Counted by the delivery worker, a process of its own.
    assert value(text, "open311_deliveries_total", destination="works", outcome="done") == 6
    assert value(text, "open311_outbox_depth", destination="works") == 0
    assert "stale-from-last-run" not in text
    lines = (tmp_path / "serve.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    loggers = {r["logger"] for r in records}
    assert {"gunicorn.error", "gunicorn.access", "open311.outbox"} <= loggers
    assert sum(r["message"] == "delivery" for r in records) == 6
