"""What the fuzz campaign (tests/fuzz) found, one test per finding, in both formats: each
failed before its fix."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from open311.models import ServiceRequest
from tests.helpers import errors, parse

API = "/open311/v2"


def _multipart(parts: list[tuple[str | None, str]]) -> tuple[bytes, str]:
    boundary = "fuzzboundary"
    body = b""
    for name, value in parts:
        disposition = "form-data" + (f'; name="{name}"' if name is not None else "")
        body += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n").encode()
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _reports(database: Any) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(ServiceRequest)) or 0


def test_multipart_part_without_a_name_is_ignored(
    client: Any, submit_key: str, database: Any, fmt: str
) -> None:
    """A part with no name (werkzeug keys it None) answered 500; it is no field."""
    body, content_type = _multipart(
        [
            (None, "stray"),
            ("api_key", submit_key),
            ("service_code", "POTHOLE"),
            ("lat", "41.3083"),
            ("long", "-72.9279"),
        ]
    )
    response = client.post(f"{API}/requests.{fmt}", data=body, content_type=content_type)
    assert response.status_code == 200, response.data
    assert parse(response, fmt)[0]["service_request_id"]
    assert _reports(database) == 1


def test_multipart_part_without_a_name_and_nothing_else(
    client: Any, submit_key: str, database: Any, fmt: str
) -> None:
    body, content_type = _multipart([(None, "stray"), ("api_key", submit_key)])
    response = client.post(f"{API}/requests.{fmt}", data=body, content_type=content_type)
    assert response.status_code == 400
    assert "service_code" in errors(response, fmt)[0]["description"]
    assert _reports(database) == 0
