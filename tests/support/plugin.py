"""Fixtures for tests that deliver: a loopback back-end, a gateway configured to use it,
and an outbox worker over the test database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from open311.delivery import build_adapters
from open311.outbox import Outbox, OutboxPolicy
from tests.support.backend import Backend

DELIVERY_CONFIG = Path(__file__).parent.parent / "outbox" / "gateway.yaml"

# Short waits so tests can step through retries without sleeping.
FAST = OutboxPolicy(
    backoff_base=1.0, backoff_cap=4.0, max_attempts=4, pause_after=3, pause_base=5.0
)


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend().start()
    yield server
    server.stop()


@pytest.fixture
def delivery_settings(
    db_url: str, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("TEST_BACKEND_URL", backend.url)
    return {"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(DELIVERY_CONFIG)}


@pytest.fixture
def outbox(app: Any) -> Iterator[Outbox]:
    gateway = app.extensions["open311"]
    worker = Outbox(gateway.db, gateway.catalog, build_adapters(gateway.catalog), FAST, seed=7)
    yield worker
    worker.close()
