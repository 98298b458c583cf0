"""Every failure answers the Open311 error list in the requested format, never HTML: unknown
routes, wrong methods, bad extensions, oversized bodies, server faults; and the
transport rules (content types, the XML declaration, doubled slashes, the default and
unknown jurisdictions)."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from lxml import etree

from tests.helpers import NEW_HAVEN_GREEN, errors, parse, root_tag, text

from .conftest import API, api, created, new_id

XML_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>"
MAX_BODY = 2 * 1024 * 1024


def assert_error(response: Any, status: int, fmt: str) -> list[dict[str, Any]]:
    assert response.status_code == status, (response.status_code, response.data[:200])
    assert b"<html" not in response.data.lower() and b"<!doctype" not in response.data.lower()
    if fmt == "xml":
        assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
        assert response.data.startswith(XML_DECLARATION)
        root = etree.fromstring(response.data)
        assert root.tag == "errors"
        assert [c.tag for c in root] == ["error"] * len(root) and len(root) >= 1
        for error in root:
            assert [c.tag for c in error] == ["code", "description"]
    else:
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        body = response.get_json()
        assert isinstance(body, list) and body
        for error in body:
            assert isinstance(error, dict) and set(error) == {"code", "description"}
    body = errors(response, fmt)
    assert text(body[0]["code"]) == str(status)
    return body


# --- content types and declaration --------------------------------------------------------


def test_content_types_and_declaration(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key)
    responses = [
        client.get(api(f"{path}.{fmt}"))
        for path in ("discovery", "services", "services/POTHOLE", "requests", f"requests/{rid}")
    ]
    responses.append(client.post(api(f"requests.{fmt}"), data={"api_key": submit_key}))
    for response in responses:
        if fmt == "xml":
            assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
            assert response.data.startswith(XML_DECLARATION), response.data[:60]
            # Schemaless, no namespace.
            assert etree.fromstring(response.data).nsmap == {}
        else:
            assert response.headers["Content-Type"] == "application/json; charset=utf-8"
            response.get_json()


# --- unknown routes, methods, extensions --------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/open311/v2/nothing.{fmt}",
        "/open311/v2/services/POTHOLE/extra.{fmt}",
        "/open311/v3/services.{fmt}",
        "/open311/v2/service_list.{fmt}",
    ],
)
def test_unknown_route_is_404_in_the_requested_format(client: Any, fmt: str, path: str) -> None:
    assert_error(client.get(path.format(fmt=fmt)), 404, fmt)


@pytest.mark.parametrize(
    "path",
    [
        "/nothing",
        "/open311/v2/services",
        "/open311/v2/requests",
        "/open311/v2/services.csv",
        "/open311/v2/services.html",
        "/open311/v2/services.",
        "/open311/v2/requests.jsonp",
        "/open311/v2/services/POTHOLE",
        "/open311/v2/services/POTHOLE.yaml",
    ],
)
def test_bad_or_missing_extension_answers_json(client: Any, path: str) -> None:
    """The format cannot be told, so the error list is JSON."""
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert_error(response, response.status_code, "json")


def test_bad_extension_on_post(client: Any, submit_key: str) -> None:
    response = client.post(api("requests.txt"), data={"api_key": submit_key})
    assert response.status_code in (400, 404, 405)
    assert_error(response, response.status_code, "json")


@pytest.mark.parametrize(
    "method, path",
    [
        ("put", "requests"),
        ("delete", "requests"),
        ("patch", "services"),
        ("post", "services"),
        ("post", "services/POTHOLE"),
        ("post", "discovery"),
        ("delete", "requests/NHV-1"),
        ("post", "tokens/abc"),
    ],
)
def test_wrong_method_is_405(client: Any, fmt: str, method: str, path: str) -> None:
    response = getattr(client, method)(api(f"{path}.{fmt}"))
    body = assert_error(response, 405, fmt)
    assert "Allow" in response.headers
    assert "not allowed" in body[0]["description"]


def test_head_and_options_are_not_errors(client: Any, fmt: str) -> None:
    assert client.head(api(f"services.{fmt}")).status_code == 200
    assert client.options(api(f"services.{fmt}")).status_code == 200


# --- oversized bodies ---------------------------------------------------------------------


def test_oversized_body_is_413(client: Any, submit_key: str, fmt: str) -> None:
    big = "x" * (MAX_BODY + 1)
    response = client.post(
        api(f"requests.{fmt}"),
        data={"api_key": submit_key, "service_code": "POTHOLE", "description": big},
    )
    assert_error(response, 413, fmt)
    response = client.post(
        api(f"requests.{fmt}"),
        data=b"x" * (MAX_BODY + 1),
        content_type="application/x-www-form-urlencoded",
    )
    assert_error(response, 413, fmt)


# Photos get room for MEDIA_MAX_FILES files of MEDIA_MAX_BYTES each, plus 1 MiB of fields
# (open311/api/media.py); past that a multipart body is refused before it is parsed.
MAX_MULTIPART = 3 * 8 * 1024 * 1024 + 1024 * 1024


def noisy_jpeg(min_bytes: int) -> bytes:
    """A real JPEG of at least `min_bytes` (random pixels do not compress)."""
    from PIL import Image

    side = 400
    while True:
        image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=95)
        if out.tell() >= min_bytes:
            return out.getvalue()
        side *= 2


def test_oversized_multipart_is_413(client: Any, submit_key: str, fmt: str) -> None:
    response = client.post(
        api(f"requests.{fmt}"),
        content_type="multipart/form-data",
        data={
            "api_key": submit_key,
            "service_code": "POTHOLE",
            "address_string": "1 Elm St",
            "media": (io.BytesIO(b"\0" * (MAX_MULTIPART + 1)), "big.jpg"),
        },
    )
    assert_error(response, 413, fmt)


def test_body_under_the_limit_is_read(client: Any, submit_key: str, fmt: str) -> None:
    # A long but legal report (padding in an ignored field) is not refused for its size.
    answer = created(client, fmt, submit_key, padding="p" * 100_000)
    assert answer["service_request_id"]
    # A photo larger than the 2 MiB every other body gets is still read whole.
    photo = noisy_jpeg(MAX_BODY + 1)
    response = client.post(
        api(f"requests.{fmt}"),
        content_type="multipart/form-data",
        data={
            "api_key": submit_key,
            "service_code": "POTHOLE",
            "address_string": "1 Elm St",
            "media": (io.BytesIO(photo), "photo.jpg"),
        },
    )
    assert response.status_code == 200, response.data


# --- server faults ------------------------------------------------------------------------


def test_unhandled_exception_is_500_in_the_requested_format(app: Any, fmt: str) -> None:
    @app.get(f"{API}/boom.<any(json, xml):fmt>")
    def boom(fmt: str) -> Any:
        raise RuntimeError("secret internals /etc/passwd")

    response = app.test_client().get(api(f"boom.{fmt}"))
    body = assert_error(response, 500, fmt)
    assert "secret" not in body[0]["description"]
    assert b"Traceback" not in response.data


def test_store_failure_is_500(client: Any, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import open311.api.requests as endpoints

    def broken(*_: Any, **__: Any) -> Any:
        raise ConnectionError("database went away")

    monkeypatch.setattr(endpoints, "find_requests", broken)
    monkeypatch.setattr(endpoints, "find_public_answers", broken)
    response = client.get(api(f"requests.{fmt}"))
    body = assert_error(response, 500, fmt)
    assert "database" not in body[0]["description"]


def test_error_answers_allow_any_origin(client: Any, fmt: str) -> None:
    response = client.get(api(f"services/NO_SUCH.{fmt}"))
    assert response.status_code == 404
    assert response.headers.get("Access-Control-Allow-Origin") == "*"


# --- URL habits ---------------------------------------------------------------------------


def test_double_slash_is_tolerated(client: Any, submit_key: str, fmt: str) -> None:
    response = client.get(f"{API}//services.{fmt}")
    assert response.status_code == 200
    assert "POTHOLE" in [s["service_code"] for s in parse(response, fmt)]
    response = client.get(f"{API}//services//POTHOLE.{fmt}")
    assert response.status_code == 200
    assert parse(response, fmt)["service_code"] == "POTHOLE"
    # A POST too: a redirect would lose clients that do not follow one.
    lat, long = NEW_HAVEN_GREEN
    response = client.post(
        f"{API}//requests.{fmt}",
        data={"api_key": submit_key, "service_code": "POTHOLE", "lat": lat, "long": long},
    )
    assert response.status_code == 200, response.data
    assert parse(response, fmt)[0]["service_request_id"]


# --- jurisdictions on the demo gateway (a default, three jurisdictions) ------------------


def test_default_jurisdiction_may_be_omitted(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key)
    named = {"jurisdiction_id": "newhavenct.gov"}
    for path in ("services", "services/POTHOLE", "requests", f"requests/{rid}"):
        a = client.get(api(f"{path}.{fmt}"))
        b = client.get(api(f"{path}.{fmt}"), query_string=named)
        assert a.status_code == b.status_code == 200, path
        assert parse(a, fmt) == parse(b, fmt), path
    explicit = created(client, fmt, submit_key, **named)["service_request_id"]
    assert explicit.startswith("NHV-") and rid.startswith("NHV-")


def test_unknown_jurisdiction_is_404_everywhere(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key)
    token = created(
        client,
        fmt,
        submit_key,
        service_code="ZONING",
        address_string="1 Elm St",
        email="x@example.org",
    )["token"]
    bad = {"jurisdiction_id": "nowhere.gov"}
    lat, long = NEW_HAVEN_GREEN
    before = parse(client.get(api(f"requests.{fmt}")), fmt)
    responses = {
        "services": client.get(api(f"services.{fmt}"), query_string=bad),
        "definition": client.get(api(f"services/POTHOLE.{fmt}"), query_string=bad),
        "post": client.post(
            api(f"requests.{fmt}"),
            data={
                "api_key": submit_key,
                "service_code": "POTHOLE",
                "lat": lat,
                "long": long,
                **bad,
            },
        ),
        "requests": client.get(api(f"requests.{fmt}"), query_string=bad),
        "request": client.get(api(f"requests/{rid}.{fmt}"), query_string=bad),
        "token": client.get(api(f"tokens/{token}.{fmt}"), query_string=bad),
    }
    for name, response in responses.items():
        assert response.status_code == 404, name
        assert "jurisdiction" in assert_error(response, 404, fmt)[0]["description"], name
    # The refused POST created nothing.
    assert parse(client.get(api(f"requests.{fmt}")), fmt) == before
    assert rid in [r["service_request_id"] for r in before]


def test_root_tag_of_errors(client: Any, fmt: str) -> None:
    response = client.get(api(f"requests/NHV-424242.{fmt}"))
    assert response.status_code == 404
    if fmt == "xml":
        assert root_tag(response) == "errors"
    else:
        assert isinstance(response.get_json(), list)
