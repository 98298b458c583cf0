"""The fuzz campaign, bounded for the suite: every operation of openapi.yaml, in both
formats (each format is its own path there), positive and negative cases, on a real
SQLite file and on PostgreSQL when OPEN311_TEST_DATABASE_URL is set. No 5xx and no
answer that the description does not allow. `make fuzz` runs the long campaign."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from open311 import create_app
from tests.fuzz.campaign import WEBHOOK_AGENCY, WEBHOOK_SECRET, run_campaign
from tests.support.openapi_shapes import demo_config_copy, load_spec

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))


@pytest.fixture
def fuzz_app(db_url: str, tmp_path: Path) -> Iterator[Any]:
    config = demo_config_copy(tmp_path, {WEBHOOK_AGENCY: WEBHOOK_SECRET})
    # Rate limits off: past 30 POSTs a minute every create would be a (described) 429.
    app = create_app(
        {"DATABASE_URL": db_url, "CONFIG": str(config), "TESTING": True, "RATELIMIT_ENABLED": False}
    )
    yield app
    app.extensions["open311"].db.dispose()


def test_fuzz_finds_no_server_error_and_no_undescribed_answer(fuzz_app: Any) -> None:
    summary = run_campaign(fuzz_app, EXAMPLES)
    print(summary.report())
    described = sum(
        1 for item in load_spec()["paths"].values() for m in ("get", "post") if m in item
    )
    assert summary.operations == described
    assert summary.calls >= summary.operations * EXAMPLES
    # The steering works: reports were created and read back, and POSTs reached handlers.
    created = summary.statuses["POST /open311/v2/requests.json"][200]
    assert created > 0, summary.report()
    assert summary.statuses["GET /open311/v2/requests/{service_request_id}.xml"][200] > 0
    assert not summary.findings, summary.report()
