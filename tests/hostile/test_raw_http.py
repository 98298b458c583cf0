"""What a real `open311 serve` answers to raw HTTP that a client library would never send:
a chunked body over the size limit (issue 8, item 6: it was cut at the limit and the
report accepted without the fields past the cut), and the requests gunicorn refuses
itself before the app sees them (a broken request line, a URL or headers over its
limits), which it answered with an HTML page."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from open311 import DEMO_CONFIG
from tests.support.servers import free_port, open311_command, stop_process, wait_until_up

pytestmark = pytest.mark.server

LIMIT = 2 * 1024 * 1024  # the app's MAX_CONTENT_LENGTH


@dataclass
class Served:
    port: int
    key: str
    database: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("raw")
    database = folder / "raw.db"
    url = f"sqlite:///{database}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN311_")}
    command = open311_command()
    key = subprocess.run(
        [*command, "--database-url", url, "keys", "create", "raw"],
        env=env, capture_output=True, timeout=60, check=True, text=True,
    ).stdout.strip()  # fmt: skip
    port = free_port()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [*command, "--database-url", url, "--config", str(DEMO_CONFIG), "serve",
         "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        yield Served(port, key, database)
    finally:
        stop_process(process)
        log.close()


def exchange(port: int, payload: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the answer until the server closes; status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        # The server may answer and close before taking the rest of the body.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return status, headers, body


def open311_error(headers: dict[str, str], body: bytes, fmt: str, status: int) -> str:
    """The answer is the Open311 error list in `fmt` with `status` as its code."""
    if fmt == "json":
        assert headers["content-type"] == "application/json; charset=utf-8", headers
        parsed = json.loads(body)
        assert isinstance(parsed, list) and set(parsed[0]) == {"code", "description"}
        assert parsed[0]["code"] == status
        return str(parsed[0]["description"])
    assert headers["content-type"] == "text/xml; charset=utf-8", headers
    root = etree.fromstring(body)
    assert root.tag == "errors" and root.findtext("error/code") == str(status)
    return root.findtext("error/description") or ""


def chunked_post(path: str, form: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunks = b"".join(
        f"{len(form[i : i + 65536]):x}\r\n".encode() + form[i : i + 65536] + b"\r\n"
        for i in range(0, len(form), 65536)
    )
    return head + chunks + b"0\r\n\r\n"


def reports(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM service_request").fetchone()[0])


def form(key: str, padding: int) -> bytes:
    return (
        f"api_key={key}&service_code=POTHOLE&lat=41.3083&long=-72.9279"
        f"&attribute[DEPTH_CM]=8&pad={'x' * padding}&description=the+field+after+the+padding"
    ).encode()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_chunked_body_over_the_limit_is_refused_whole(served: Served, fmt: str) -> None:
    before = reports(served.database)
    payload = chunked_post(f"/open311/v2/requests.{fmt}", form(served.key, LIMIT + 1000))
    status, headers, body = exchange(served.port, payload)
    assert status == 413, body[:300]
    assert "too large" in open311_error(headers, body, fmt, 413)
    assert reports(served.database) == before


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_chunked_body_under_the_limit_arrives_whole(served: Served, fmt: str) -> None:
    """Under the limit, the form's last field (past a long one) is stored."""
    payload = chunked_post(f"/open311/v2/requests.{fmt}", form(served.key, 400_000))
    status, _headers, body = exchange(served.port, payload)
    assert status == 200, body[:300]
    with sqlite3.connect(served.database) as db:
        last = db.execute("SELECT description FROM service_request ORDER BY id DESC").fetchone()
    assert last[0] == "the field after the padding"


CHUNKED = "Transfer-Encoding: chunked"
HEADERS = "".join(f"X-{i}: y\r\n" for i in range(120))


def test_a_chunked_photo_gets_the_room_photos_get(served: Served) -> None:
    """A POST with photos may be larger than 2 MiB (docs/api.md, media): chunked too."""
    import io
    import random

    from PIL import Image

    rng = random.Random(8)
    image = Image.frombytes("RGB", (1600, 1300), rng.randbytes(1600 * 1300 * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    photo = out.getvalue()
    assert LIMIT < len(photo) < 4 * 1024 * 1024, len(photo)
    boundary = "b0undary"
    fields = {"api_key": served.key, "service_code": "POTHOLE", "lat": "41.3083",
              "long": "-72.9279", "attribute[DEPTH_CM]": "8"}  # fmt: skip
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    body += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="big.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    payload = chunked_post("/open311/v2/requests.json", body).replace(
        b"application/x-www-form-urlencoded", f"multipart/form-data; boundary={boundary}".encode()
    )
    status, _headers, answer = exchange(served.port, payload)
    assert status == 200, answer[:300]


REFUSED = [
    # (what, the request for a path, the status gunicorn gives)
    ("a broken request line", lambda path: f"GET {path} HTTP/1.1 extra\r\n\r\n", 400),
    ("a URL over 4094 bytes", lambda path: f"GET {path}?q={'a' * 5000} HTTP/1.1\r\n\r\n", 414),
    ("a header over 8190 bytes", lambda p: f"GET {p} HTTP/1.1\r\nX-Big: {'b' * 9000}\r\n\r\n", 431),
    ("more than 100 headers", lambda path: f"GET {path} HTTP/1.1\r\n{HEADERS}\r\n", 431),
    ("a bad chunk size", lambda path: f"POST {path} HTTP/1.1\r\n{CHUNKED}\r\n\r\nzz\r\n", 400),
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(("what", "make", "status"), REFUSED, ids=[r[0] for r in REFUSED])
def test_gunicorn_refusals_are_open311_errors(
    served: Served, fmt: str, what: str, make: object, status: int
) -> None:
    payload = make(f"/open311/v2/requests.{fmt}").encode()  # type: ignore[operator]
    got, headers, body = exchange(served.port, payload)
    assert got == status, (what, body[:300])
    assert b"<html" not in body.lower()
    assert re.search(r"\w", open311_error(headers, body, fmt, status))
