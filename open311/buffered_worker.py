"""A gunicorn worker that buffers each request before the app sees it, as nginx does.

gunicorn's sync worker reads a request while it holds the worker, so two clients that
send a header line every few seconds hold two workers for as long as they like (issue 8,
item 2); gunicorn's advice is a buffering proxy or an async worker. This worker is gthread
with its reading moved into the main loop: the loop reads every connection without
blocking until the request line, headers and body are all in memory, and only then hands
it to a thread, which runs the app on bytes already there. Slow, idle and half-sent
requests cost a buffer each and no thread; the app runs one request at a time per thread,
as under sync (threads=1 is the default, so the app code sees what sync gave it).

Bounds: `worker_connections` connections per worker; a request must arrive within
REQUEST_DEADLINE seconds, with no pause longer than IDLE_DEADLINE (a kept-alive connection
gets gunicorn's `keepalive` for the first byte of its next request); at most
BUFFER_CAP bytes are held per request: a larger one (only a POST with photos may be) is
handed over as it is, and the thread reading the rest gives up after a pause of
IDLE_DEADLINE (a client trickling such a body can still hold a thread: nginx in front
buffers those too). A thread writing an answer to a client that does not read
gives up after SEND_DEADLINE. Plain HTTP/1.x only: with gunicorn's own TLS or HTTP/2 the
connection is served as gthread serves it (neither is used: TLS ends at nginx).

gunicorn answers the requests it cannot parse itself (a broken request line, a URL or
headers over its limits, bad chunking) with an HTML page; this worker sends the same
status as the Open311 error list instead, in XML when the request's path ends in `.xml`.
"""

from __future__ import annotations

import contextlib
import errno
import re
import selectors
import socket
import struct
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gunicorn.http.parser import RequestParser
from gunicorn.workers.gthread import TConn, ThreadWorker

from .render import JSON_TYPE, XML_TYPE, to_bytes

REQUEST_DEADLINE = 60.0
IDLE_DEADLINE = 10.0
SEND_DEADLINE = 30.0
# Above gunicorn's own head limits (request line 4094, 100 fields of 8190) and the app's
# body limit (2 MiB): anything larger is refused by whichever reads it first.
BUFFER_CAP = 4 * 1024 * 1024
_READ = 65536
# A client that asks to be told to go on before it sends its body (curl does for bodies
# over 1 KiB) is told so by the loop at once; the header is then taken out, so gunicorn
# does not say it a second time when a thread takes the request.
_EXPECT = re.compile(rb"\r\nExpect:[ \t]*100-continue[ \t]*(?=\r\n)", re.IGNORECASE)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def request_complete(data: bytes | bytearray) -> bool:
    """Whether `data` holds a whole request (line, headers, body), or so much that it
    must be handed over anyway; bytes gunicorn will refuse count as complete, so that
    its own error answer goes out at once."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) > BUFFER_CAP
    length: int | None = None
    chunked = False
    for line in bytes(data[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return True
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    body = memoryview(data)[end + 4 :]
    if len(body) > BUFFER_CAP:
        return True
    if chunked:
        return _chunks_complete(bytes(body))
    return length is None or length > BUFFER_CAP or len(body) >= length


def _chunks_complete(body: bytes) -> bool:
    at = 0
    while True:
        line_end = body.find(b"\r\n", at)
        if line_end < 0:
            return False
        try:
            size = int(body[at:line_end].split(b";", 1)[0].strip(), 16)
        except ValueError:
            return True  # gunicorn refuses it
        at = line_end + 2
        if size == 0:  # the last chunk: then trailers, if any, and an empty line
            return body.startswith(b"\r\n", at) or body.find(b"\r\n\r\n", at - 2) >= 0
        at += size + 2
        if at > len(body):
            return False


# What gunicorn's own refusals mean, said as the API says its errors.
_REFUSALS = {
    400: "The request could not be understood.",
    403: "This request is not allowed.",
    414: "The URL is too long.",
    417: "The expectation in the Expect header cannot be met.",
    431: "The request's headers are too large.",
    500: "The gateway hit an internal error. It has been logged.",
    501: "This transfer coding is not supported; send the body with Content-Length.",
}


def refusal(status_line: bytes, request_line: bytes) -> bytes:
    """The whole HTTP answer for one of gunicorn's own error pages (its status line given),
    as the Open311 error list in the format the request line's path asks for."""
    parts = status_line.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 400
    reason = parts[2].decode("latin-1") if len(parts) > 2 else "Bad Request"
    target = request_line.split(b" ")[1] if request_line.count(b" ") >= 2 else b""
    fmt = "xml" if target.split(b"?", 1)[0].rstrip(b"/").endswith(b".xml") else "json"
    description = _REFUSALS.get(status, _REFUSALS[400])
    body = to_bytes([{"code": status, "description": description}], "errors", fmt)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {XML_TYPE if fmt == 'xml' else JSON_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _Refusing:
    """The client socket as gunicorn's `handle_error` sees it: what it writes (its HTML
    error page, through `util.write_error`) goes out as `refusal()`; all else passes."""

    def __init__(self, sock: socket.socket, request_line: bytes) -> None:
        self._sock = sock
        self._request_line = request_line

    def sendall(self, data: bytes) -> None:
        if data.startswith(b"HTTP/1.1 ") and b"Content-Type: text/html" in data[:400]:
            data = refusal(data.split(b"\r\n", 1)[0], self._request_line)
        self._sock.sendall(data)

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _http1(conn: TConn) -> RequestParser:
    """The connection's HTTP/1 parser (the only kind a buffered connection has)."""
    assert isinstance(conn.parser, RequestParser)
    return conn.parser


@dataclass
class _Reading:
    conn: TConn
    data: bytearray
    deadline: float  # the whole request by then
    quiet_until: float  # the next byte by then
    started: bool = False
    since: float = field(default_factory=time.monotonic)
    head_seen: bool = False


class BufferedWorker(ThreadWorker):
    """gthread that reads whole requests in its main loop before a thread sees them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[int, _Reading] = {}
        # The request line of the request each socket (by file number) is serving.
        self.request_lines: dict[int, bytes] = {}

    def _buffers(self) -> bool:
        return not self.cfg.is_ssl and not getattr(self.cfg, "http2_prior_knowledge", False)

    def accept(self, listener: Any) -> None:
        if not self._buffers():
            super().accept(listener)
            return
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        # A thread writing to a client that never reads gives up (EAGAIN) after this; one
        # reading the rest of a body over BUFFER_CAP, after a pause of IDLE_DEADLINE.
        sending = struct.pack("ll", int(SEND_DEADLINE), 0)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, sending)
        receiving = struct.pack("ll", int(IDLE_DEADLINE), 0)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, receiving)
        conn = TConn(self.cfg, client, address, listener.getsockname())
        self._read_next(conn, b"", first_byte_within=IDLE_DEADLINE)

    def _read_next(self, conn: TConn, held: bytes, first_byte_within: float) -> None:
        """Buffer the connection's next request, starting with bytes already read."""
        now = time.monotonic()
        reading = _Reading(
            conn,
            bytearray(held),
            deadline=now + REQUEST_DEADLINE,
            quiet_until=now + first_byte_within,
            started=bool(held),
        )
        self._continue(reading)
        if held and request_complete(reading.data):
            self._hand_over(reading)
            return
        conn.sock.setblocking(False)
        self.reading[conn.sock.fileno()] = reading
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, reading))

    def _readable(self, reading: _Reading, _sock: Any) -> None:
        try:
            chunk = reading.conn.sock.recv(_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self._drop(reading)
            return
        now = time.monotonic()
        reading.data += chunk
        reading.started = True
        reading.quiet_until = now + IDLE_DEADLINE
        self._continue(reading)
        if request_complete(reading.data):
            self._stop_reading(reading)
            self._hand_over(reading)

    def _continue(self, reading: _Reading) -> None:
        """Once the head is in: answer `Expect: 100-continue` (HTTP/1.1) and drop it."""
        if reading.head_seen:
            return
        end = reading.data.find(b"\r\n\r\n")
        if end < 0:
            return
        reading.head_seen = True
        head = bytes(reading.data[: end + 2])
        if not head.split(b"\r\n", 1)[0].endswith(b"HTTP/1.1") or not _EXPECT.search(head):
            return
        if not request_complete(reading.data):
            with contextlib.suppress(OSError):
                reading.conn.sock.send(_CONTINUE)
        reading.data[: end + 2] = _EXPECT.sub(b"", head)

    def _hand_over(self, reading: _Reading) -> None:
        conn = reading.conn
        conn.sock.setblocking(True)
        conn.init()  # the HTTP/1 parser over the socket (no TLS here, so nothing is read)
        _http1(conn).unreader.unread(bytes(reading.data))
        self.request_lines[conn.sock.fileno()] = bytes(reading.data[:8192]).split(b"\r\n", 1)[0]
        conn.data_ready = True
        self.enqueue_req(conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        line = self.request_lines.get(client.fileno(), b"") if self._buffers() else None
        if line is not None:
            client = _Refusing(client, line)
        super().handle_error(req, client, addr, exc)

    def _stop_reading(self, reading: _Reading) -> None:
        self.reading.pop(reading.conn.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(reading.conn.sock)

    def _drop(self, reading: _Reading) -> None:
        self._stop_reading(reading)
        self.nr_conns -= 1
        reading.conn.close()

    def murder_pending(self) -> None:
        """Called by the main loop about once a second (and while stopping): drop the
        connections past a deadline; a stopping worker gives a request under way a
        moment, and a connection with nothing sent yet none."""
        super().murder_pending()
        now = time.monotonic()
        for reading in list(self.reading.values()):
            late = now > reading.deadline or now > reading.quiet_until
            stopping = not self.alive and (not reading.started or now > reading.since + 2)
            if late or stopping:
                self._drop(reading)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        """After an answer: a kept-alive connection goes back to buffering (with any bytes
        of its next request already read), not straight to a thread."""
        if not self._buffers():
            super().finish_request(conn, fs)
            return
        self.request_lines.pop(conn.sock.fileno(), None)
        try:
            result = fs.result() if not fs.cancelled() else False
        except Exception:
            result = False
        if result and self.alive:
            held = _http1(conn).unreader.take_buffered()
            self._read_next(conn, held, first_byte_within=float(self.cfg.keepalive))
            return
        self.nr_conns -= 1
        with contextlib.suppress(OSError):
            conn.close(graceful=bool(result))
