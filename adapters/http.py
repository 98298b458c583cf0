"""What the HTTP adapters share: one session, timeouts, authentication, and the single place
where a `requests` exception or an HTTP status becomes a TemporaryFailure or a
PermanentFailure."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from adapters.base import DeliveryError, PermanentFailure, TemporaryFailure
from adapters.config import SettingsReader

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 20.0
USER_AGENT = "open311-gateway"
HMAC_ALGORITHMS = ("sha256", "sha512")
AUTH_KEYS = ("type", "token", "username", "password", "secret", "header", "algorithm")

# Statuses where the same request may well succeed later. 408 and 425 are 4xx only by
# number: they say "not now", not "never".
_RETRYABLE_4XX = frozenset({408, 425, 429})
_EXCERPT = 200


# --- settings ---------------------------------------------------------------------------


def read_timeout(reader: SettingsReader, key: str = "timeout") -> tuple[float, float]:
    """`timeout`: a number of seconds for both phases, or `{connect: s, read: s}`."""
    value = reader.raw(key)
    if value is None:
        return (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
    if isinstance(value, Mapping):
        sub = reader.nested(key, allowed=("connect", "read"))
        assert sub is not None
        connect = _positive(sub, "connect", DEFAULT_CONNECT_TIMEOUT)
        read = _positive(sub, "read", DEFAULT_READ_TIMEOUT)
        return (connect, read)
    seconds = _positive(reader, key, DEFAULT_READ_TIMEOUT)
    return (seconds, seconds)


def _positive(reader: SettingsReader, key: str, default: float) -> float:
    value = reader.raw(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise reader.error(key, f"must be a positive number of seconds, not {value!r}")
    return float(value)


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


def read_auth(reader: SettingsReader, key: str = "auth") -> AuthBase | None:
    """`auth`: `{type: bearer, token}`, `{type: basic, username, password}` or
    `{type: hmac, secret, header, algorithm}`; absent means no authentication."""
    sub = reader.nested(key, allowed=AUTH_KEYS)
    if sub is None:
        return None
    kind = sub.get_choice("type", ("bearer", "basic", "hmac"), default="")
    allowed_by_kind = {
        "bearer": {"type", "token"},
        "basic": {"type", "username", "password"},
        "hmac": {"type", "secret", "header", "algorithm"},
    }
    extra = sorted(k for k in sub.data if k not in allowed_by_kind[kind])
    if extra:
        raise sub.error(extra[0], f"does not apply to auth type {kind}")
    if kind == "bearer":
        return BearerAuth(sub.require_str("token"))
    if kind == "basic":
        return HTTPBasicAuth(sub.require_str("username"), sub.require_str("password"))
    algorithm = sub.get_choice("algorithm", HMAC_ALGORITHMS, default="sha256")
    header = sub.get_str("header", default="X-Signature")
    assert header is not None
    return HmacAuth(sub.require_str("secret"), header=header.strip(), algorithm=algorithm)


def read_headers(reader: SettingsReader, key: str = "headers") -> dict[str, str]:
    headers = reader.get_str_map(key)
    for name, value in headers.items():
        # A newline would let a configured header smuggle a second one.
        if not name.strip() or any(c in name + value for c in "\r\n"):
            raise reader.error(f"{key}.{name}", "is not a valid HTTP header")
    return headers


def build_session(
    *, auth: AuthBase | None = None, headers: Mapping[str, str] | None = None, adapter: str = ""
) -> requests.Session:
    session = requests.Session()
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
        # Redirects are not followed for submissions: requests would turn a POST into a GET.
        location = response.headers.get("Location", "")
        return PermanentFailure(f"{message} (redirect to {location!r}; update the URL setting)")
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


# --- the client -------------------------------------------------------------------------


class HttpClient:
    """One `requests.Session` with the adapter's timeout, headers and authentication."""

    def __init__(
        self,
        reader: SettingsReader,
        *,
        timeout_key: str = "timeout",
        auth_key: str | None = "auth",
        headers_key: str | None = "headers",
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.timeout = read_timeout(reader, timeout_key)
        auth = read_auth(reader, auth_key) if auth_key else None
        headers = dict(default_headers or {})
        if headers_key:
            headers.update(read_headers(reader, headers_key))
        self.session = build_session(auth=auth, headers=headers, adapter=reader.adapter)

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
        """Send one request; transport errors always raise, HTTP errors raise unless
        `check_status` is false (for callers that read an error body first)."""
        sent_headers = dict(headers or {})
        if idempotency_key:
            sent_headers["Idempotency-Key"] = idempotency_key
        method = method.upper()
        try:
            response = self.session.request(
                method,
                url,
                headers=sent_headers,
                timeout=self.timeout,
                allow_redirects=method in ("GET", "HEAD"),
                **kwargs,
            )
        except requests.RequestException as exc:
            raise failure_for_exception(exc, what) from exc
        if check_status:
            raise_for_status(response, what)
        return response

    def close(self) -> None:
        self.session.close()
