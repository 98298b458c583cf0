"""Rate limits (open311/limits.py): POSTs are limited per api_key and per client address,
GETs per client address; a refusal is 429 with Retry-After and the Open311 error list in
the requested format. In memory each process counts alone; with a Redis URL every process
sharing it shares the counts (the scale-out promise), tested against a real Redis.

tests/privacy/gateway.yaml allows 3 POSTs and 5 GETs per minute."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from open311 import create_app
from tests.conftest import make_key
from tests.helpers import errors, text

from .common import API, PERSONAL, leaks

CONFIG = Path(__file__).parent / "gateway.yaml"
REDIS_URL = "redis://127.0.0.1:6379/15"


def build(db_url: str, **extra: Any) -> Any:
    return create_app({"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(CONFIG), **extra})


@pytest.fixture
def app(db_url: str) -> Iterator[Any]:
    application = build(db_url)
    yield application
    application.extensions["open311"].db.dispose()


def send(client: Any, fmt: str, key: str, address: str, **fields: str) -> Any:
    data = {"service_code": "NOISE", "address_string": "1 Quiet Lane", "api_key": key, **fields}
    return client.post(f"{API}/requests.{fmt}", data=data, environ_base={"REMOTE_ADDR": address})


def read(client: Any, fmt: str, address: str, path: str = "services", **params: str) -> Any:
    return client.get(
        f"{API}/{path}.{fmt}", query_string=params, environ_base={"REMOTE_ADDR": address}
    )


def assert_limited(response: Any, fmt: str) -> None:
    assert response.status_code == 429, response.data
    retry_after = response.headers.get("Retry-After")
    assert retry_after is not None and 0 < int(retry_after) <= 60, retry_after
    [error] = errors(response, fmt)  # also checks the format (content type, XML prolog)
    assert text(error["code"]) == "429"
    assert leaks(response) == []  # the refused request's personal values are not echoed


def test_the_fourth_post_with_one_key_is_refused(app: Any, fmt: str) -> None:
    client, key = app.test_client(), make_key(app, "busy-app")
    for _ in range(3):
        assert send(client, fmt, key, "10.0.0.1", **PERSONAL).status_code == 200
    assert_limited(send(client, fmt, key, "10.0.0.1", **PERSONAL), fmt)


def test_posts_count_per_key_and_per_address(app: Any) -> None:
    client = app.test_client()
    first, second = make_key(app, "app-one"), make_key(app, "app-two")
    for _ in range(3):
        assert send(client, "json", first, "10.0.0.1").status_code == 200
    # The address has used its allowance: another key from it waits too …
    assert_limited(send(client, "json", second, "10.0.0.1"), "json")
    # … but that key is fine from elsewhere, while the first key is spent everywhere.
    assert send(client, "json", second, "10.0.0.2").status_code == 200
    assert_limited(send(client, "json", first, "10.0.0.3"), "json")
    # Reads have their own allowance.
    assert read(client, "json", "10.0.0.1").status_code == 200


def test_gets_count_per_address_whatever_the_key(app: Any, fmt: str) -> None:
    client, key = app.test_client(), make_key(app, "reader-app")
    paths = ["services", "requests", "discovery", "servicerequestupdates", "services/NOISE"]
    for path in paths:
        assert read(client, fmt, "10.0.1.1", path).status_code == 200, path
    assert_limited(read(client, fmt, "10.0.1.1", "requests", **PERSONAL), fmt)
    assert_limited(read(client, fmt, "10.0.1.1", "requests", api_key=key), fmt)
    assert read(client, fmt, "10.0.1.2").status_code == 200
    # POSTs are not reads: the spent read allowance does not stop a report.
    assert send(client, fmt, key, "10.0.1.1").status_code == 200


def test_behind_a_proxy_the_forwarded_address_is_counted(db_url: str) -> None:
    application = build(db_url, PROXY_HOPS=1)
    try:
        client = application.test_client()

        def via_proxy(address: str) -> Any:
            return client.get(
                f"{API}/services.json",
                headers={"X-Forwarded-For": address},
                environ_base={"REMOTE_ADDR": "10.9.9.9"},
            )

        for _ in range(5):
            assert via_proxy("198.51.100.7").status_code == 200
        assert_limited(via_proxy("198.51.100.7"), "json")
        assert via_proxy("198.51.100.8").status_code == 200  # another client, same proxy
    finally:
        application.extensions["open311"].db.dispose()


# --- Redis: the counts shared by every process ---------------------------------------


@pytest.fixture
def redis_prefix(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    redis = pytest.importorskip("redis")
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answering at {REDIS_URL} ({exc})")
    monkeypatch.setenv("OPEN311_TEST_LIMITS_STORAGE", REDIS_URL)
    prefix = f"open311-test-{uuid.uuid4().hex[:10]}"
    yield prefix, connection
    for name in connection.scan_iter(match=f"*{prefix}*"):
        connection.delete(name)
    connection.close()


def test_processes_sharing_redis_share_the_counts(
    db_url: str, redis_prefix: tuple[str, Any]
) -> None:
    prefix, redis = redis_prefix
    # Two app instances stand for two gunicorn workers (or two hosts).
    one, two = (build(db_url, RATELIMIT_KEY_PREFIX=prefix) for _ in range(2))
    try:
        assert one.extensions["limiter"] is not two.extensions["limiter"]
        key = make_key(one, "shared-app")
        a, b = one.test_client(), two.test_client()
        assert send(a, "json", key, "10.0.2.1").status_code == 200
        assert send(a, "json", key, "10.0.2.1").status_code == 200
        assert send(b, "json", key, "10.0.2.1").status_code == 200
        assert_limited(send(b, "xml", key, "10.0.2.1"), "xml")
        assert_limited(send(a, "json", key, "10.0.2.2"), "json")  # the key, wherever it is

        for client in (a, b, a, b, a):
            assert read(client, "json", "10.0.2.3").status_code == 200
        assert_limited(read(b, "json", "10.0.2.3"), "json")
        assert_limited(read(a, "xml", "10.0.2.3"), "xml")

        names = [n.decode() for n in redis.scan_iter(match=f"*{prefix}*")]
        assert names, "the counters live in Redis"
        assert not [n for n in names if key in n], "Redis holds no usable api_key"
    finally:
        for application in (one, two):
            application.extensions["open311"].db.dispose()
