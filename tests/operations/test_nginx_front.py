"""The gateway behind the shipped nginx site, as docs/deployment.md installs it: a resident's
report goes in over TLS, a member of staff signs in with a real browser, and nginx's logs
hold no key or personal value.

The sign-in is the part only a browser shows: Flask-WTF refuses a form posted over HTTPS
without a same-origin Referer, so a site-wide `Referrer-Policy: no-referrer` in front
makes every staff sign-in fail with "This form was not sent from this site"."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.observability.conftest import run_open311, serving
from tests.support.servers import free_port, stop_process

from .conftest import clean_env, nginx_prefix, write_config

pytestmark = [
    pytest.mark.server,
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed"),
    # The test certificate is self-signed; what is checked is nginx's handling, not TLS trust.
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

EMAIL = "resident@example.org"


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "nginx exited"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nginx never listened on {port}")


@pytest.fixture
def front(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """open311 serve (SQLite, one worker) behind nginx; yields the https root, a submit
    key, a staff account of the one agency and the nginx log folder."""
    env = clean_env(
        OPEN311_DATABASE_URL=f"sqlite:///{tmp_path / 'open311.db'}",
        OPEN311_CONFIG=str(write_config(tmp_path)),
        OPEN311_SECRET_KEY="nginx-front-test-secret-0123456789abcdef",
        OPEN311_PROXY_HOPS="1",
    )
    key = run_open311(["keys", "create", "app"], env, tmp_path).stdout.strip().splitlines()[-1]
    made = run_open311(
        ["staff-users", "create", "--email", "clerk@city.example", "--agency", "roads"],
        env,
        tmp_path,
    )
    assert made.returncode == 0, made.stderr
    password = made.stdout.strip().splitlines()[-1]
    with serving(env, tmp_path, "--no-worker") as upstream:
        https = free_port()
        main = nginx_prefix(
            tmp_path, upstream=int(upstream.rsplit(":", 1)[1]), http=free_port(), https=https
        )
        nginx = subprocess.Popen(
            ["nginx", "-p", str(tmp_path), "-c", str(main), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_for_port(https, nginx)
            yield {
                "root": f"https://127.0.0.1:{https}",
                "key": key,
                "email": "clerk@city.example",
                "password": password,
                "logs": tmp_path / "logs",
            }
        finally:
            stop_process(nginx)


def test_a_report_in_and_a_staff_sign_in_through_nginx(
    browser: Any,
    front: dict[str, Any],
) -> None:
    root = front["root"]
    answer = requests.post(
        f"{root}/open311/v2/requests.json",
        data={"api_key": front["key"], "service_code": "POTHOLE", "email": EMAIL,
              "address_string": "1 Elm St", "description": "Deep hole"},
        verify=False, timeout=10,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    rid = answer.json()[0]["service_request_id"]
    assert requests.get(f"{root}/readyz", verify=False, timeout=10).status_code == 200

    context = browser.new_context(ignore_https_errors=True, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(f"{root}/staff/")
        assert "/staff/sign-in" in page.url
        page.fill("#email", front["email"])
        page.fill("#password", front["password"])
        page.click("form button[type=submit]")
        page.wait_for_url("**/staff/queue")
        assert rid in page.inner_text("main")
        cookie = next(c for c in context.cookies() if c["name"] == "open311_staff")
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    finally:
        context.close()

    # A photo straight from a phone camera (over nginx's 2m for other bodies) goes through.
    photo = camera_photo(3 * 1024 * 1024)
    answer = requests.post(
        f"{root}/open311/v2/requests.json",
        data={"api_key": front["key"], "service_code": "POTHOLE", "address_string": "2 Elm St"},
        files={"media": ("photo.jpg", photo, "image/jpeg")},
        verify=False, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text

    logs = "".join(p.read_text(encoding="utf-8") for p in front["logs"].glob("*.log"))
    assert "/staff/queue" in logs and "requests.json" in logs
    for secret in (front["key"], EMAIL, "resident%40example.org", front["password"]):
        assert secret not in logs


def camera_photo(at_least: int) -> bytes:
    """A JPEG of noise (it does not compress) of at least `at_least` bytes."""
    import io
    import os

    from PIL import Image

    side = 1200
    while True:
        image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=95)
        if out.tell() >= at_least:
            return out.getvalue()
        side += 400


def _raw_tls(port: int, payload: bytes) -> tuple[int, str, bytes]:
    """One raw request over TLS: status, Content-Type and body of nginx's answer."""
    import contextlib
    import socket
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="311.riverton.example") as sock,
    ):
        # nginx may answer and close before taking all of a body it refuses.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)
        got = b""
        with contextlib.suppress(ConnectionResetError, ssl.SSLError):
            while chunk := sock.recv(65536):
                got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers.get("content-type", ""), body


LONG_URL = b"GET /open311/v2/requests.json?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
BIG_HEADER = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
BIG_BODY = (
    b"POST /open311/v2/servicerequestupdates.json HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 3000000\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n\r\n" + b"x" * 10000
)
REFUSED_BY_NGINX = [
    ("a broken request line", b"GET /open311/v2/services.json HTTP/1.1 x\r\n\r\n", 400),
    ("a URL over nginx's buffers", LONG_URL, 414),
    ("a header over nginx's buffers", BIG_HEADER, 431),
    ("a body over client_max_body_size", BIG_BODY, 413),
]


@pytest.mark.parametrize(("what", "payload", "status"), REFUSED_BY_NGINX)
def test_nginx_refusals_are_open311_errors(
    front: dict[str, Any], what: str, payload: bytes, status: int
) -> None:
    """What nginx refuses itself never reaches the gateway, so nginx answers it, as the
    gateway's error list in JSON (issue 8, item 6), with the security headers."""
    import json

    port = int(front["root"].rsplit(":", 1)[1])
    got, media, body = _raw_tls(port, payload)
    assert got == status, (what, body[:300])
    assert media == "application/json; charset=utf-8", (what, media)
    parsed = json.loads(body)
    assert parsed[0]["code"] == status and parsed[0]["description"], parsed
