"""Answers no back-end should give, from raw sockets on loopback: huge, dripping (in the
headers or in the body) and redirecting. Every call ends by its total deadline, reads at
most `max_answer_bytes`, and follows a redirect only within the configured origin, so the
credentials never reach another server."""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from adapters.base import PermanentFailure, TemporaryFailure
from adapters.http import HttpClient

pytestmark = pytest.mark.serial  # timed: run alone, after the parallel part (Makefile)

MB = 1024 * 1024


class RawServer:
    """Accepts connections on loopback and hands each socket to `serve` in a thread;
    remembers the request head of each connection."""

    def __init__(self, serve: Callable[[socket.socket, bytes], None]) -> None:
        self.serve = serve
        self.heads: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            self.heads.append(head)
            with contextlib.suppress(OSError):  # the client hung up, as it should
                self.serve(conn, head)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


@pytest.fixture
def raw() -> Iterator[Callable[[Callable[[socket.socket, bytes], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(serve: Callable[[socket.socket, bytes], None]) -> RawServer:
        servers.append(RawServer(serve))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def client(**settings) -> HttpClient:
    return HttpClient.from_settings(settings, adapter="test")


def endless(conn: socket.socket, head: bytes) -> None:
    """200 OK and then 300 MB of JSON-ish bytes with no length: read to the end, it would
    take a worker past 300 MB."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    block = b"[" + b"1," * (MB // 2)
    for _ in range(300):
        conn.sendall(block)


def drip_body(conn: socket.socket, head: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        conn.sendall(b" ")
        time.sleep(0.3)  # well inside the read timeout each time


def drip_headers(conn: socket.socket, head: bytes) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
        conn.sendall(bytes([byte]))
        time.sleep(0.3)


def test_a_huge_answer_is_cut_at_the_cap_not_read_whole(raw) -> None:
    server = raw(endless)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.monotonic()
    with pytest.raises(TemporaryFailure, match="more than 10485760 bytes"):
        client(timeout={"connect": 1, "read": 5, "total": 20}).request(
            "POST", server.url + "/orders", what="submit", data=b"{}"
        )
    seconds = time.monotonic() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"huge answer: cut after {seconds:.2f}s, peak memory grew {grown_mb:.1f} MB")
    assert grown_mb < 40, grown_mb  # the cap (10 MB) and its copy, not 300 MB


def test_a_declared_huge_answer_is_refused_before_reading(raw) -> None:
    def declared(conn: socket.socket, head: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)

    server = raw(declared)
    with pytest.raises(TemporaryFailure, match="more than 2048 bytes"):
        client(max_answer_bytes=2048).request("GET", server.url + "/feed", what="status")


@pytest.mark.parametrize("serve", [drip_body, drip_headers], ids=["body", "headers"])
def test_a_dripping_answer_is_cut_at_the_total_deadline(raw, serve) -> None:
    server = raw(serve)
    started = time.monotonic()
    with pytest.raises(TemporaryFailure, match="total deadline"):
        client(timeout={"connect": 1, "read": 1, "total": 2}).request(
            "POST", server.url + "/orders", what="submit", data=b"{}"
        )
    seconds = time.monotonic() - started
    print(f"dripping {serve.__name__}: cut after {seconds:.2f}s (total deadline 2s)")
    assert 1.8 <= seconds < 3.0, seconds


def ok(conn: socket.socket, head: bytes) -> None:
    body = b'{"items": []}'
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def redirect_to(location: str) -> Callable[[socket.socket, bytes], None]:
    def serve(conn: socket.socket, head: bytes) -> None:
        if head.split(b" ")[1].startswith(b"/feed") and b"v2" not in head.split(b" ")[1]:
            conn.sendall(
                b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\nConnection: close\r\n"
                + f"Location: {location}\r\n\r\n".encode()
            )
        else:
            ok(conn, head)

    return serve


def test_a_read_follows_a_redirect_within_its_origin(raw) -> None:
    server = raw(redirect_to("/feed-v2?since=x"))
    http = client(headers={"X-Api-Key": "s3cret"})
    response = http.request("GET", server.url + "/feed", what="status", params={"since": "x"})
    assert response.json() == {"items": []}
    assert [h.split(b" ")[1] for h in server.heads] == [b"/feed?since=x", b"/feed-v2?since=x"]


def test_a_redirect_to_another_host_is_not_followed_and_gets_no_credentials(raw) -> None:
    elsewhere = raw(ok)
    server = raw(redirect_to(elsewhere.url + "/steal"))
    http = client(headers={"X-Api-Key": "s3cret"}, auth={"type": "bearer", "token": "t0ken"})
    with pytest.raises(PermanentFailure, match="not followed"):
        http.request("GET", server.url + "/feed", what="status")
    time.sleep(0.1)
    assert elsewhere.heads == []  # nothing, credentials or otherwise, went there


def test_a_submission_is_never_redirected(raw) -> None:
    server = raw(redirect_to("/orders-v2"))
    with pytest.raises(PermanentFailure, match="302"):
        client().request("POST", server.url + "/feed", what="submit", data=b"{}")
    assert len(server.heads) == 1
