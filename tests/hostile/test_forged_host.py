"""A forged Host (or X-Forwarded-Host) header never shows in an answer (issue 8, item 10):
discovery echoed it into its URLs when no `endpoint_url` was configured, a photo's stored
`media_url` kept the Host of the POST that sent it (for every later reader), and werkzeug's
redirects to a rule's slashed URL named it in their Location. The gateway's absolute URLs
now come from `gateway.endpoint_url`, else from the address the server listens on
(open311/origin.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from PIL import Image

from open311 import DEMO_CONFIG, create_app
from tests.conftest import make_key
from tests.helpers import NEW_HAVEN_GREEN, parse

from .test_raw_http import Served, exchange, served  # noqa: F401  (the live server fixture)

FORGED = "evil.example"
# The forms a forged host takes in the request, whichever header carries it.
HEADERS = [
    {"Host": f"{FORGED}:8666"},
    {"X-Forwarded-Host": f"{FORGED}:8666", "X-Forwarded-For": "203.0.113.9"},
]


def build(db_url: str, tmp_path: Path, endpoint_url: str | None = None) -> Any:
    settings: dict[str, Any] = {
        "DATABASE_URL": db_url,
        "TESTING": True,
        "RATELIMIT_ENABLED": False,
        "MEDIA_FOLDER": str(tmp_path / "media"),
        # ProxyFix trusts one proxy: X-Forwarded-Host then becomes request.host.
        "PROXY_HOPS": 1,
        "SECRET_KEY": "forged-host-test",
        "STAFF_COOKIE_SECURE": False,
    }
    if endpoint_url:
        config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
        config["gateway"]["endpoint_url"] = endpoint_url
        path = tmp_path / "gateway.yaml"
        path.write_text(yaml.safe_dump(_absolute(config)), encoding="utf-8")
        settings["CONFIG"] = str(path)
    return create_app(settings)


def _absolute(value: Any) -> Any:
    """The demo's boundary files are named relative to its folder: name them in full."""
    if isinstance(value, dict):
        return {k: _absolute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_absolute(v) for v in value]
    if isinstance(value, str) and value.endswith(".geojson") and not value.startswith("/"):
        return str(DEMO_CONFIG.parent / value)
    return value


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Any]:
    application = build(db_url, tmp_path)
    yield application
    application.extensions["open311"].db.dispose()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def post_with_photo(client: Any, fmt: str, key: str, headers: dict[str, str]) -> str:
    data = {
        "api_key": key,
        "service_code": "POTHOLE",
        "lat": str(NEW_HAVEN_GREEN[0]),
        "long": str(NEW_HAVEN_GREEN[1]),
        "description": "Deep hole",
        "media": [(io.BytesIO(jpeg()), "hole.jpg", "image/jpeg")],
    }
    response = client.post(
        f"/open311/v2/requests.{fmt}", data=data, content_type="multipart/form-data",
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 200, response.data
    return str(parse(response, fmt)[0]["service_request_id"])


def everything(client: Any, number: str, headers: dict[str, str]) -> list[Any]:
    """Every kind of answer a forged Host could end up in."""
    paths = [
        "/discovery.json", "/discovery.xml", "/open311/v2/discovery.json",
        "/open311/v2/discovery.xml",
        f"/open311/v2/requests/{number}.json?extensions=true",
        f"/open311/v2/requests/{number}.xml?extensions=true",
        "/open311/v2/requests.json?extensions=true", "/open311/v2/requests.xml",
        "/open311/v2/services.json", "/open311/v2/servicerequestupdates.json",
        f"/track/{number}", f"/track?id={number}", "/", "/docs", "/openapi.yaml",
        "/staff", "/staff/", "/staff/sign-in", "/open311/v2/nothing.json", "/nothing",
    ]  # fmt: skip
    return [client.get(path, headers=headers) for path in paths]


def forged_in(response: Any) -> bool:
    found = FORGED in response.get_data(as_text=True)
    return found or any(FORGED in value for _, value in response.headers.items())


@pytest.mark.parametrize("headers", HEADERS, ids=["Host", "X-Forwarded-Host"])
def test_a_forged_host_is_in_no_answer(app: Any, fmt: str, headers: dict[str, str]) -> None:
    client = app.test_client()
    number = post_with_photo(client, fmt, make_key(app, "app"), headers)
    answers = everything(client, number, headers)
    assert [a.request.path for a in answers if forged_in(a)] == []
    # What the URLs are instead: the address the server was reached on, as the WSGI server
    # tells it (the test client: localhost).
    discovery = client.get("/open311/v2/discovery.json", headers=headers).get_json()
    assert discovery["endpoints"][0]["url"] == "http://localhost/open311/v2/"
    media = client.get(f"/open311/v2/requests/{number}.json", headers=headers).get_json()
    assert media[0]["media_url"].startswith("http://localhost/media/"), media
    redirect = client.get("/staff", headers=headers)
    assert redirect.status_code == 308 and redirect.headers["Location"] == "http://localhost/staff/"
    # The resident's page still shows the photo it sent (it recognises its own URLs).
    assert "/media/" in client.get(f"/track/{number}", headers=headers).get_data(as_text=True)


def test_the_configured_endpoint_url_is_used(db_url: str, tmp_path: Path, fmt: str) -> None:
    app = build(db_url, tmp_path, endpoint_url="https://311.city.example/open311/v2")
    try:
        client = app.test_client()
        headers = HEADERS[0]
        number = post_with_photo(client, fmt, make_key(app, "app"), headers)
        assert [a.request.path for a in everything(client, number, headers) if forged_in(a)] == []
        url = parse(client.get(f"/open311/v2/discovery.{fmt}", headers=headers), fmt)
        assert url["endpoints"][0]["url"] == "https://311.city.example/open311/v2/"
        [report] = client.get(f"/open311/v2/requests/{number}.json", headers=headers).get_json()
        assert report["media_url"].startswith("https://311.city.example/media/"), report
        page = client.get(f"/track/{number}", headers=headers).get_data(as_text=True)
        assert "/media/" in page
    finally:
        app.extensions["open311"].db.dispose()


@pytest.mark.server
def test_a_real_server_names_its_own_address(served: Served) -> None:  # noqa: F811
    """Under gunicorn the fallback is the socket the server listens on."""
    for path in ("/open311/v2/discovery.json", "/discovery.json"):
        status, _headers, body = exchange(
            served.port,
            f"GET {path} HTTP/1.1\r\nHost: {FORGED}\r\nConnection: close\r\n\r\n".encode(),
        )
        assert status == 200 and FORGED.encode() not in body
        url = json.loads(body)["endpoints"][0]["url"]
        assert url == f"http://127.0.0.1:{served.port}/open311/v2/"
    answer = requests.get(
        f"http://127.0.0.1:{served.port}/staff", headers={"Host": FORGED}, allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    assert answer.headers["Location"] == f"http://127.0.0.1:{served.port}/staff/"
