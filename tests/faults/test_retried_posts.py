"""An app whose answer was lost retries its POST: with an Idempotency-Key it gets the first
answer back instead of filing the report twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

import open311
from open311 import create_app
from open311.models import ServiceRequest
from tests.helpers import NEW_HAVEN_GREEN, errors, parse

pytestmark = pytest.mark.serial  # timed: run alone, after the parallel part (Makefile)


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    return {"DATABASE_URL": db_url, "TESTING": True}  # the demo configuration


def post(client: Any, fmt: str, key: str, idem: str | None, **fields: Any) -> Any:
    data = {
        "api_key": key,
        "service_code": "POTHOLE",
        "lat": NEW_HAVEN_GREEN[0],
        "long": NEW_HAVEN_GREEN[1],
        "description": "Retry me",
        **fields,
    }
    headers = {"Idempotency-Key": idem} if idem else {}
    return client.post(f"/open311/v2/requests.{fmt}", data=data, headers=headers)


def count(app: Any) -> int:
    with app.extensions["open311"].db.read() as session:
        return session.scalar(select(func.count()).select_from(ServiceRequest))


def test_same_key_same_request_answers_the_first_id(client, app, submit_key, fmt):
    first = parse(post(client, fmt, submit_key, "app-123"), fmt)
    again = post(client, fmt, submit_key, "app-123")
    assert again.status_code == 200
    assert parse(again, fmt) == first
    assert count(app) == 1


def test_batch_replay_answers_the_same_token(client, app, submit_key, fmt):
    extra = {"service_code": "ZONING", "email": "z@example.org"}
    first = parse(post(client, fmt, submit_key, "z-1", **extra), fmt)
    assert first[0]["token"]
    assert parse(post(client, fmt, submit_key, "z-1", **extra), fmt) == first
    assert count(app) == 1


def test_same_key_other_payload_is_refused(client, app, submit_key, fmt):
    post(client, fmt, submit_key, "app-9")
    clash = post(client, fmt, submit_key, "app-9", description="Something else")
    assert clash.status_code == 422
    assert "Idempotency-Key" in errors(clash, fmt)[0]["description"]
    assert count(app) == 1


def test_keys_are_per_api_key_and_optional(client, app, submit_key, fmt):
    from tests.conftest import make_key

    other = make_key(app, "other-app")
    a = parse(post(client, fmt, submit_key, "shared"), fmt)
    b = parse(post(client, fmt, other, "shared"), fmt)
    assert a[0]["service_request_id"] != b[0]["service_request_id"]
    post(client, fmt, submit_key, None)
    post(client, fmt, submit_key, None)
    assert count(app) == 4


def test_failed_post_does_not_burn_the_key(client, app, submit_key, fmt):
    bad = post(client, fmt, submit_key, "k-1", lat="200")
    assert bad.status_code == 400
    good = post(client, fmt, submit_key, "k-1")
    assert good.status_code == 200
    assert count(app) == 1


def test_replay_after_the_service_left_the_configuration(
    client, app, settings, submit_key, fmt, tmp_path
):
    """A retried POST whose service was taken out of the configuration in between (a
    reload) gets the first answer back, from the stored report, in its format: not a 500."""
    demo = Path(open311.__file__).parent / "demo"
    config = yaml.safe_load((demo / "config.yaml").read_text())
    config["services"] = [
        s for s in config["services"] if not (s["code"] == "POTHOLE" and "jurisdiction" not in s)
    ]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "boundaries").symlink_to(demo / "boundaries")

    first = post(client, fmt, submit_key, "gone-1")
    assert first.status_code == 200
    reloaded = create_app({**settings, "CONFIG": str(tmp_path / "config.yaml")})
    try:
        again = post(reloaded.test_client(), fmt, submit_key, "gone-1")
        assert again.status_code == 200, again.get_data(as_text=True)
        assert parse(again, fmt) == parse(first, fmt)
    finally:
        reloaded.extensions["open311"].db.dispose()
    assert count(app) == 1
