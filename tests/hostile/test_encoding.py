"""Invalid UTF-8 and NUL anywhere in a request: a 400 naming where, before any view reads a
parameter (open311/input_guard.py). Before, an invalid byte in a query stayed as
percent-encoded text and was matched or stored as such, one in a url-encoded body emptied
the whole form (answered 403, "an api_key is required"), one in a multipart field became
U+FFFD and was stored; a NUL in an id, a filter or a key answered 500 on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import NEW_HAVEN_GREEN

from .conftest import API, Unchanged, push, refused

WHERE = f"lat={NEW_HAVEN_GREEN[0]}&long={NEW_HAVEN_GREEN[1]}"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("requests.{fmt}?agency_responsible=caf%E9", "agency_responsible"),
        ("requests.{fmt}?service_request_id=NHV-%FF", "service_request_id"),
        ("servicerequestupdates.{fmt}?after=%C3%28", "after"),
        ("services.{fmt}?jurisdiction_id=%80", "jurisdiction_id"),
        ("requests.{fmt}?sta%FFtus=open", "sta"),
    ],
)
def test_invalid_utf8_in_the_query_is_a_400(client: Any, fmt: str, path: str, name: str) -> None:
    refused(client.get(f"{API}/{path.format(fmt=fmt)}"), fmt, 400, name, "UTF-8")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("requests.{fmt}?service_request_id=%00", "service_request_id"),
        ("requests.{fmt}?jurisdiction_id=newhavenct.gov%00", "jurisdiction_id"),
        ("servicerequestupdates.{fmt}?after=%00", "after"),
        ("requests.{fmt}?x%00=1", "x?"),
    ],
)
def test_a_nul_in_the_query_is_a_400(client: Any, fmt: str, path: str, name: str) -> None:
    refused(client.get(f"{API}/{path.format(fmt=fmt)}"), fmt, 400, name, "NUL")


@pytest.mark.parametrize(
    "path",
    [
        "requests/%00.{fmt}",
        "requests/NHV-1%00.{fmt}",
        "tokens/%00.{fmt}",
        "services/POTHOLE%00.{fmt}",
        "requests/%FF.{fmt}",
    ],
)
def test_a_nul_or_invalid_utf8_in_an_id_is_a_400(client: Any, fmt: str, path: str) -> None:
    refused(client.get(f"{API}/{path.format(fmt=fmt)}"), fmt, 400, "path")


def test_invalid_utf8_in_the_path_as_a_server_passes_it(client: Any, fmt: str) -> None:
    """A WSGI server hands the raw bytes on as latin-1 (werkzeug's test client would have
    replaced them already)."""
    response = client.get("/", environ_overrides={"PATH_INFO": f"{API}/requests/\xff\xfe.{fmt}"})
    refused(response, fmt, 400, "path", "UTF-8")


@pytest.mark.parametrize(
    "body",
    [
        b"description=caf\xe9",  # raw Latin-1
        b"description=caf%E9",  # percent-encoded Latin-1
        b"first_name=%C3%28",  # a broken two-byte sequence
        b"description=a%00b",
        b"x%00y=1",
    ],
)
def test_a_bad_url_encoded_form_is_a_400(
    app: Any, client: Any, fmt: str, submit_key: str, body: bytes
) -> None:
    data = f"api_key={submit_key}&service_code=POTHOLE&{WHERE}&".encode() + body
    with Unchanged(app):
        response = client.post(
            f"{API}/requests.{fmt}", data=data, content_type="application/x-www-form-urlencoded"
        )
        refused(response, fmt, 400, "(in the form)")


@pytest.mark.parametrize("value", [b"caf\xe9", b"a\x00b"])
def test_a_bad_multipart_field_is_a_400(
    app: Any, client: Any, fmt: str, submit_key: str, value: bytes
) -> None:
    boundary = "hostileboundary"
    parts = {
        "api_key": submit_key.encode(),
        "service_code": b"POTHOLE",
        "lat": str(NEW_HAVEN_GREEN[0]).encode(),
        "long": str(NEW_HAVEN_GREEN[1]).encode(),
        "description": value,
    }
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode()
            + v
            + b"\r\n"
            for k, v in parts.items()
        )
        + f"--{boundary}--\r\n".encode()
    )
    with Unchanged(app):
        response = client.post(
            f"{API}/requests.{fmt}",
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )
        refused(response, fmt, 400, "description")


def test_invalid_utf8_in_a_json_body_is_a_400(app: Any, client: Any, fmt: str) -> None:
    with Unchanged(app):
        response = client.post(
            f"{API}/agencies/nhv-public-works/updates.{fmt}",
            data=b'{"updates": [{"backend_id": "WO-\xff", "status": "open"}]}',
            content_type="application/json",
        )
        refused(response, fmt, 400, "JSON", "UTF-8")


@pytest.mark.parametrize("name", ["backend_id", "service_request_id", "update_id"])
def test_an_escaped_nul_in_a_signed_push_is_a_400(
    app: Any, client: Any, fmt: str, name: str
) -> None:
    update = {"backend_id": "WO-1", "status": "open", "updated_datetime": "2026-01-01T00:00:00Z"}
    update[name] = "WO-\x00"
    with Unchanged(app):
        refused(push(client, fmt, [update]), fmt, 400, name)


@pytest.mark.parametrize("key", ["a\x00b", "retry\x07", "x" * 201])
def test_a_bad_idempotency_key_is_a_400(
    app: Any, client: Any, fmt: str, submit_key: str, key: str
) -> None:
    with Unchanged(app):
        response = client.post(
            f"{API}/requests.{fmt}",
            data={
                "api_key": submit_key,
                "service_code": "POTHOLE",
                "lat": "41.3083",
                "long": "-72.9279",
            },
            headers={"Idempotency-Key": key},
        )
        refused(response, fmt, 400, "Idempotency-Key")


@pytest.mark.parametrize("path", ["/track/%00", "/track?id=%FF", "/staff/queue?service=%00"])
def test_the_pages_refuse_them_too(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400, (path, response.data[:300])
