"""The hostile-input catalogue's shared checks: a refusal is a 4xx Open311 error list in the
requested format, and a refused request leaves every table as it was."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from open311.db import Base
from tests.helpers import errors, text
from tests.support.openapi_shapes import demo_config_copy

API = "/open311/v2"
# The demo's public-works back-end, given a webhook secret so its push can be tried.
WEBHOOK_AGENCY = "nhv-public-works"
WEBHOOK_SECRET = "hostile-webhook-secret"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> dict[str, Any]:
    # Rate limits have their own test (test_rate_limits.py) with its own configuration.
    config = demo_config_copy(tmp_path, {WEBHOOK_AGENCY: WEBHOOK_SECRET})
    return {
        "DATABASE_URL": db_url,
        "CONFIG": str(config),
        "TESTING": True,
        "RATELIMIT_ENABLED": False,
        # The test client speaks http: the staff pages' cookie must not be Secure-only.
        "STAFF_COOKIE_SECURE": False,
    }


def push(client: Any, fmt: str, updates: list[dict[str, Any]]) -> Any:
    """The back-end's signed webhook POST of `updates`."""
    body = json.dumps({"updates": updates}).encode()
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        f"{API}/agencies/{WEBHOOK_AGENCY}/updates.{fmt}",
        data=body,
        headers={"Content-Type": "application/json", "X-Open311-Signature": f"sha256={signature}"},
    )


def table_counts(app: Any) -> dict[str, int]:
    """Rows in every table: a refused request must not leave anything half-way."""
    with app.extensions["open311"].db.read() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def refused(response: Any, fmt: str, status: int = 400, *fragments: str) -> str:
    """The answer is `status` (a 4xx), as the Open311 error list in the requested format;
    returns the descriptions joined, for the caller's own checks."""
    assert 400 <= status < 500
    assert response.status_code == status, (response.status_code, response.data[:500])
    body = errors(response, fmt)  # content type, XML prolog, {code, description} only
    assert text(body[0]["code"]) == str(status), body
    joined = " ".join(e["description"] for e in body)
    for fragment in fragments:
        assert fragment in joined, (fragment, joined)
    return joined


class Unchanged:
    """`with Unchanged(app): …` fails if any table gained or lost a row inside."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __enter__(self) -> Unchanged:
        self.before = table_counts(self.app)
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert table_counts(self.app) == self.before
