"""What the HTTP adapters share: one session, timeouts, authentication, and the single place
where a `requests` exception or an HTTP status becomes a TemporaryFailure or a
PermanentFailure.

Every call is bounded: in time, by a wall-clock deadline over the whole call (connecting,
sending, the headers and the whole answer), enforced by adapters/deadline.py, which shuts the socket
when it passes, because a socket read timeout restarts with every byte and a server that
drips one byte a second would never trip it; in size, by reading the answer as a stream
and stopping at `max_answer_bytes`. Redirects are followed only for reads and only within
the configured origin, so credentials and signed headers never reach another host.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from marshmallow import ValidationError, fields, post_load, validate, validates_schema
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from adapters.base import Adapter, DeliveryError, PermanentFailure, TemporaryFailure
from adapters.deadline import Deadline
from adapters.settings import (
    Choice,
    SettingsSchema,
    Text,
    TextMap,
    Whole,
    load_settings,
)

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 20.0
DEFAULT_MAX_ANSWER_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5


USER_AGENT = "open311-gateway"
HMAC_ALGORITHMS = ("sha256", "sha512")

# Statuses where the same request may well succeed later. 408 and 425 are 4xx only by
# number: they say "not now", not "never".
_RETRYABLE_4XX = frozenset({408, 425, 429})
_EXCERPT = 200


# --- settings ---------------------------------------------------------------------------


class Timeouts(NamedTuple):
    connect: float  # seconds to open the connection
    read: float  # seconds any one read may wait for the next bytes
    total: float  # seconds for the whole call, answer included: a wall-clock deadline


DEFAULT_TIMEOUTS = Timeouts(
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_CONNECT_TIMEOUT + DEFAULT_READ_TIMEOUT
)


class Seconds(fields.Float):
    """A positive number of seconds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(min=0, min_inclusive=False), **kwargs)


class _TimeoutSchema(SettingsSchema):
    connect = Seconds(load_default=DEFAULT_CONNECT_TIMEOUT)
    read = Seconds(load_default=DEFAULT_READ_TIMEOUT)
    total = Seconds(load_default=None)

    @post_load
    def _timeouts(self, data: dict[str, Any], **_: Any) -> Timeouts:
        total = data["total"] or data["connect"] + data["read"]
        return Timeouts(data["connect"], data["read"], total)


class Timeout(fields.Field):
    """`timeout`: a number of seconds for both phases, or `{connect: s, read: s, total: s}`;
    the total defaults to connect + read (twice the number for a plain number)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_default=DEFAULT_TIMEOUTS, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Timeouts:
        try:
            if isinstance(value, Mapping):
                timeouts: Timeouts = _TimeoutSchema().load(value)
                return timeouts
            seconds = Seconds().deserialize(value)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return Timeouts(seconds, seconds, 2 * seconds)


class BearerAuth(AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


class HmacAuth(AuthBase):
    """Signs the exact bytes that go on the wire, so the receiver can recompute the digest
    over the raw body it read. Signing a re-serialised copy would break on key order or
    whitespace."""

    def __init__(self, secret: str, header: str = "X-Signature", algorithm: str = "sha256"):
        self.secret = secret.encode("utf-8")
        self.header = header
        self.algorithm = algorithm

    def signature(self, body: bytes) -> str:
        digest = hmac.new(self.secret, body, getattr(hashlib, self.algorithm)).hexdigest()
        return f"{self.algorithm}={digest}"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body
        if body is None:
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            # requests sends str bodies (form encoding) as they are; form encoding is ASCII.
            raw = body.encode("utf-8")
        else:
            raise TypeError("HMAC signing needs the whole body in memory, not a stream")
        r.headers[self.header] = self.signature(raw)
        return r


class AuthSchema(SettingsSchema):
    """`auth`: `{type: bearer, token}`, `{type: basic, username, password}` or
    `{type: hmac, secret, header, algorithm}`; absent means no authentication."""

    TAKES: ClassVar[dict[str, tuple[str, ...]]] = {
        "bearer": ("token",),
        "basic": ("username", "password"),
        "hmac": ("secret", "header", "algorithm"),
    }
    NEEDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "bearer": ("token",),
        "basic": ("username", "password"),
        "hmac": ("secret",),
    }

    type = Choice(tuple(TAKES), required=True)
    token = Text()
    username = Text()
    password = Text()
    secret = Text()
    header = Text()
    algorithm = Choice(HMAC_ALGORITHMS)

    @validates_schema
    def _keys_of_the_type(self, data: dict[str, Any], **_: Any) -> None:
        kind = data.get("type")
        if kind is None:
            return
        errors: dict[str, list[str]] = {}
        for key in data:
            if key != "type" and key not in self.TAKES[kind]:
                errors[key] = [f"Does not apply to auth type {kind}."]
        for key in self.NEEDS[kind]:
            if key not in data:
                errors[key] = [f"Missing data for required field (auth type {kind})."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _auth(self, data: dict[str, Any], **_: Any) -> AuthBase:
        if data["type"] == "bearer":
            return BearerAuth(data["token"])
        if data["type"] == "basic":
            return HTTPBasicAuth(data["username"], data["password"])
        header = data.get("header", "X-Signature").strip()
        return HmacAuth(data["secret"], header=header, algorithm=data.get("algorithm", "sha256"))


class Headers(TextMap):
    """Extra request headers; a line break in a name or value would let a configured header
    smuggle a second one."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> dict[str, str]:
        headers = super()._deserialize(value, attr, data, **kwargs)
        bad = {
            name: ["Not a valid HTTP header."]
            for name, text in headers.items()
            if not name.strip() or any(c in name + text for c in "\r\n")
        }
        if bad:
            raise ValidationError(bad)
        return headers


class HttpSettingsSchema(SettingsSchema):
    """The settings every HTTP adapter takes; an adapter's schema extends it (and may
    exclude `auth` in its Meta when it authenticates otherwise)."""

    timeout = Timeout()
    max_answer_bytes = Whole(
        load_default=DEFAULT_MAX_ANSWER_BYTES, validate=validate.Range(min=1024, max=1 << 30)
    )
    auth = fields.Nested(AuthSchema, load_default=None)
    headers = Headers(load_default=dict)


if TYPE_CHECKING:
    from requests.sessions import _Settings  # the stubs' name for what requests returns


class _Session(requests.Session):
    """A requests.Session that reads the proxy and CA-bundle variables of the environment
    once per origin, at its first request there: requests reads them again for every
    request (walking the whole environment), a twentieth of a delivery's cost, for values
    that do not change while the process runs."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], _Settings] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        if proxies:  # a call's own proxies: as requests does
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname, parts.port, stream, verify, cert)
        found = self._environment.get(key)
        if found is None:
            found = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = found
        settings = found.copy()
        settings["proxies"] = dict(found["proxies"])  # requests may add to it
        return settings


def build_session(
    *, auth: AuthBase | None = None, headers: Mapping[str, str] | None = None, adapter: str = ""
) -> requests.Session:
    session = _Session()
    transport = _DeadlineAdapter()
    session.mount("http://", transport)
    session.mount("https://", transport)
    session.headers["User-Agent"] = f"{USER_AGENT} ({adapter} adapter)" if adapter else USER_AGENT
    session.headers.update(headers or {})
    session.auth = auth
    return session


def join_url(base: str, *parts: str) -> str:
    """Append path segments to a base URL whether or not it ends in a slash, keeping any query
    string the operator put on the base (some gateways want `?tenant=...` everywhere)."""
    scheme, netloc, path, query, fragment = urlsplit(base.strip())
    segments = [path.rstrip("/")]
    segments.extend(p.strip("/") for p in parts if p.strip("/"))
    return urlunsplit((scheme, netloc, "/".join(segments), query, fragment))


def safe_url(url: str) -> str:
    """A URL fit for an error message: no credentials, no query string (it may hold a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# --- classification ---------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def failure_for_response(response: requests.Response, what: str) -> DeliveryError | None:
    """None for a 2xx; otherwise the failure this status means."""
    code = response.status_code
    if 200 <= code < 300:
        return None
    message = f"{what}: {response.request.method} {safe_url(response.url)} answered HTTP {code}"
    excerpt = body_excerpt(response)
    if excerpt:
        message += f": {excerpt}"
    if code >= 500 or code in _RETRYABLE_4XX:
        return TemporaryFailure(
            message, retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )
    if 300 <= code < 400:
        # Not followed: submissions never (requests would turn a POST into a GET), reads
        # never to another origin (the credentials would go with them).
        location = safe_url(urljoin(response.url, response.headers.get("Location", "")))
        return PermanentFailure(
            f"{message} (redirect to {location!r} not followed; update the URL setting)"
        )
    return PermanentFailure(message)


def raise_for_status(response: requests.Response, what: str) -> None:
    failure = failure_for_response(response, what)
    if failure is not None:
        raise failure


def failure_for_exception(exc: requests.RequestException, what: str) -> DeliveryError:
    url = getattr(exc.request, "url", None) if exc.request is not None else None
    where = f" {safe_url(url)}" if url else ""
    # Order matters: ConnectTimeout is both a Timeout and a ConnectionError.
    if isinstance(exc, requests.Timeout):
        return TemporaryFailure(f"{what}:{where} timed out ({type(exc).__name__})")
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema
        | requests.exceptions.InvalidHeader
        | requests.exceptions.URLRequired,
    ):
        return PermanentFailure(f"{what}:{where} cannot be requested: {exc}")
    if isinstance(exc, requests.TooManyRedirects):
        return PermanentFailure(f"{what}:{where} redirects in a loop")
    if isinstance(exc, requests.ConnectionError):
        return TemporaryFailure(f"{what}:{where} connection failed ({type(exc).__name__})")
    return TemporaryFailure(f"{what}:{where} failed ({type(exc).__name__}: {exc})")


def body_excerpt(response: requests.Response) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        return ""
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def json_answer(response: requests.Response, what: str) -> Any:
    """The decoded JSON body; an answer that is not JSON is a TemporaryFailure, because a
    back-end half-way through a deploy answers HTML error pages with a 200."""
    try:
        return response.json()
    except ValueError:
        excerpt = body_excerpt(response)
        raise TemporaryFailure(f"{what}: the answer is not JSON: {excerpt or '(empty)'}") from None


# --- the deadline (adapters/deadline.py) on requests' connections ----------------------


_CURRENT = threading.local()  # the call this thread is making


def _watch_current(sock: socket.socket | None) -> None:
    call = getattr(_CURRENT, "call", None)
    if call is not None:
        call.watch(sock)


class _Watched:
    """Puts the connection's socket under the current call's deadline: in connect() for a
    new socket, in getresponse() for one reused from the pool."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch_current(self.sock)

    def getresponse(self) -> Any:
        _watch_current(self.sock)
        return super().getresponse()  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    """requests' own transport, with connections the watchdog can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def same_origin(url: str, target: str) -> bool:
    """Whether a redirect from `url` to `target` stays with the configured server (scheme,
    host and port; http to https on the same host's default ports counts as the same)."""
    here, there = _origin(url), _origin(target)
    if here == there:
        return True
    return here == ("http", there[1], 80) and there[0] == "https" and there[2] == 443


# --- the client -------------------------------------------------------------------------


class HttpClient:
    """One `requests.Session` with the adapter's timeouts, answer cap, headers and
    authentication."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        adapter: str = "",
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        """`settings` as `HttpSettingsSchema` (or a schema extending it) loaded them."""
        self.timeouts: Timeouts = settings["timeout"]
        self.max_answer_bytes: int = settings["max_answer_bytes"]
        headers = {**(default_headers or {}), **settings.get("headers", {})}
        self.session = build_session(auth=settings.get("auth"), headers=headers, adapter=adapter)

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], *, adapter: str = "", **kwargs: Any
    ) -> HttpClient:
        """A client from raw `timeout`/`max_answer_bytes`/`auth`/`headers` settings."""
        loaded = load_settings(adapter or "http", HttpSettingsSchema, settings)
        return cls(loaded, adapter=adapter, **kwargs)

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        check_status: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request and read its whole answer within the total deadline and the
        size cap; transport errors, a passed deadline and an oversized answer always raise
        TemporaryFailure, HTTP errors raise unless `check_status` is false (for callers that
        read an error body first)."""
        sent_headers = dict(headers or {})
        if idempotency_key:
            sent_headers["Idempotency-Key"] = idempotency_key
        method = method.upper()
        with Deadline(self.timeouts.total) as call:
            _CURRENT.call = call
            try:
                response = self._send(call, method, url, what, sent_headers, kwargs)
            finally:
                _CURRENT.call = None
        if check_status:
            raise_for_status(response, what)
        return response

    def _send(
        self,
        call: Deadline,
        method: str,
        url: str,
        what: str,
        headers: dict[str, str],
        kwargs: dict[str, Any],
    ) -> requests.Response:
        for hop in range(MAX_REDIRECTS + 1):
            try:
                left = max(0.001, call.remaining())
                response = self.session.request(
                    method,
                    url,
                    headers=headers,
                    timeout=(min(self.timeouts.connect, left), min(self.timeouts.read, left)),
                    allow_redirects=False,
                    stream=True,
                    **kwargs,
                )
                if (
                    method in ("GET", "HEAD")
                    and response.is_redirect
                    and hop < MAX_REDIRECTS
                    and same_origin(url, target := urljoin(url, response.headers["Location"]))
                ):
                    response.close()
                    url = target
                    kwargs = {k: v for k, v in kwargs.items() if k != "params"}  # in the URL now
                    continue
                self._read_answer(response, what)
                return response
            except requests.RequestException as exc:
                if call.expired:
                    raise self._late(what, url) from exc
                raise failure_for_exception(exc, what) from exc
        raise PermanentFailure(f"{what}: {safe_url(url)} redirects in a loop")

    def _read_answer(self, response: requests.Response, what: str) -> None:
        """Read the body into the response, stopping at the cap: an answer is data to
        parse, never worth a worker's memory."""
        limit = self.max_answer_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            response.close()
            raise self._oversized(what, response.url, limit)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                response.close()
                raise self._oversized(what, response.url, limit)
            chunks.append(chunk)
        response._content = b"".join(chunks)
        response.raw.release_conn()

    def _late(self, what: str, url: str) -> TemporaryFailure:
        return TemporaryFailure(
            f"{what}: {safe_url(url)} timed out: no complete answer within "
            f"{self.timeouts.total:g}s (the total deadline)"
        )

    @staticmethod
    def _oversized(what: str, url: str, limit: int) -> TemporaryFailure:
        # Temporary: the back-end may have taken the report; the next try, with the same
        # idempotency key, may get a sensible answer (and dies after the last attempt).
        return TemporaryFailure(
            f"{what}: {safe_url(url)} answered more than {limit} bytes (max_answer_bytes); "
            "the answer was not read"
        )

    def close(self) -> None:
        self.session.close()


class HttpAdapter(Adapter):
    """Base of the adapters that talk HTTP (`open311`, `http_json`, `xml`): their
    `settings_schema` extends HttpSettingsSchema, and `self.http` is the client built from
    it, closed by `close()`."""

    # Sent with every request; the settings' own `headers` win.
    default_headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        self.http = HttpClient(
            self.options, adapter=self.name, default_headers=self.headers_for(self.options)
        )

    def headers_for(self, options: Mapping[str, Any]) -> Mapping[str, str]:
        """The default headers for these settings (the `Accept` of a chosen format)."""
        return self.default_headers

    def close(self) -> None:
        self.http.close()
