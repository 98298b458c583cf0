"""Logging that cannot leak a reporter's personal data.

Personal fields never belong in a log line. Code does not log them, SQLAlchemy is told to
hide statement parameters, and redaction is the last line: every record is scrubbed as it
is made (whichever logger makes it, whichever handler receives it later), masking anything
shaped like an e-mail address, an api_key parameter or a phone number in the message and
traceback and hiding SQLAlchemy's result rows; a filter on the gateway's loggers and the
root handlers also drops `extra` attributes named like personal fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

from schemas.personal import PERSONAL_FIELDS

# An e-mail address, also with its `@` encoded as a back-end may echo it (percent, XML
# character reference, JSON escape), and with percent-encoded characters around it.
_EMAIL = re.compile(r"[\w.+%-]+(?:@|%40|&#64;|&#x40;|\\u0040)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_KEYED = re.compile(
    r"((?:api_key|"
    + "|".join(PERSONAL_FIELDS)
    + r")\\?[\"']?\s*[=:]\s*\\?[\"']?)([^&\s\"'\\,)<]+)",
    re.IGNORECASE,
)
# The same names as XML elements: <api_key>…</api_key>, <email>…</email>.
_XML_KEYED = re.compile(
    r"(<(?:api_key|" + "|".join(PERSONAL_FIELDS) + r")>)([^<]+)(</)", re.IGNORECASE
)
# Runs of digits with phone separators, masked when they hold 10 to 15 digits (E.164):
# enough for any full phone number, while addresses (127.0.0.1:8311), process ids,
# timestamps and coordinates (no dots as separators here) stay readable. Separators may
# be percent-encoded (%20, %28, %29, %2B) or a form's `+` for a space.
_PHONE = re.compile(
    r"(?<![\w.:/%])(?:\+|%2B)?\(?\d(?:[\d ()+-]|%20|%28|%29|%2B){6,}\d(?![\w.:])"
    r"|\b\d{3}\.\d{3}\.\d{4}\b",
    re.IGNORECASE,
)
_ENCODED_SEPARATOR = re.compile(r"%2[089B]", re.IGNORECASE)


def _mask_phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in _ENCODED_SEPARATOR.sub(" ", match.group()))
    return "[redacted-phone]" if 10 <= digits <= 15 else match.group()


# SQLAlchemy logs each result row at DEBUG, and hide_parameters does not cover rows: a row
# of reporter_contact is nothing but personal data, a private report's row its description.
_SQL_ROW = "Row %r"
_SQL_ROW_HIDDEN = "Row [hidden: result rows may hold personal data]"


def encoded_forms(value: str) -> set[str]:
    """The forms a value takes when a back-end echoes it: as it is, percent-encoded (form
    bodies, query strings; with and without `@` kept), XML-escaped (also as numeric
    references), JSON-escaped (also with `\\/`)."""
    as_json = json.dumps(value)[1:-1]
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        quote(value, safe="@"),
        quote_plus(value, safe="@"),
        xml_escape(value, {'"': "&quot;", "'": "&apos;"}),
        xml_escape(value, {'"': "&#34;", "'": "&#39;"}),
        "".join(c if c.isalnum() else f"&#{ord(c)};" for c in value),
        "".join(c if c.isalnum() else f"&#x{ord(c):x};" for c in value),
        as_json,
        as_json.replace("/", "\\/"),
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    return {form for form in forms if form}


def redact(text: str, known: Iterable[str] = ()) -> str:
    """Mask personal values and credentials: every `known` value (a reporter's contact, a
    back-end's credentials) in any of its encoded forms, then anything shaped like an
    e-mail address, a phone number or an `api_key`/personal field's value, also when
    encoded. The one rule for log lines and for stored delivery errors."""
    values = sorted({v for v in known if v and len(v.strip()) >= 3}, key=len, reverse=True)
    for value in values:
        for form in sorted(encoded_forms(value), key=len, reverse=True):
            text = re.sub(re.escape(form), "[redacted]", text, flags=re.IGNORECASE)
    text = _XML_KEYED.sub(r"\1[redacted]\3", text)
    text = _KEYED.sub(r"\1[redacted]", text)
    text = _EMAIL.sub("[redacted-email]", text)
    return _PHONE.sub(_mask_phone, text)


# Setting names whose values are credentials, in an adapter's settings (api_key,
# token, password, webhook_secret, …), and setting maps whose every value is one
# (headers: Authorization, X-API-Key, …).
_SECRET_NAME = re.compile(r"key|token|secret|password|passwd|auth|credential", re.IGNORECASE)
_SECRET_MAPS = ("headers", "status_headers")


def credentials_in(settings: Mapping[str, Any]) -> list[str]:
    """The credential values of an adapter's settings, for `redact(known=…)`; a header
    value like `Bearer XYZ` also gives `XYZ`."""
    found: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str) and value:
            found.append(value)
            scheme, _, rest = value.partition(" ")
            if rest and scheme.lower() in ("bearer", "token", "basic", "apikey"):
                found.append(rest.strip())

    for name, value in settings.items():
        if isinstance(value, Mapping):
            if name in _SECRET_MAPS:
                for item in value.values():
                    add(item)
            else:
                found += credentials_in(value)
        elif _SECRET_NAME.search(name):
            add(value)
    return found


def _scrub(record: logging.LogRecord) -> None:
    """Redact one record in place: its message (arguments merged in) and its traceback."""
    if record.name.startswith("sqlalchemy.engine") and record.msg == _SQL_ROW:
        record.msg, record.args = _SQL_ROW_HIDDEN, None
    else:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not make the log call raise
            message = f"{record.msg} [unformattable arguments dropped]"
        record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
        record.exc_info = None  # formatted (and redacted) already
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name in PERSONAL_FIELDS:
            if hasattr(record, name):
                setattr(record, name, "[redacted]")
        _scrub(record)
        return True


class _RedactingRecordFactory:
    """Wraps the log record factory. A filter on a logger does not see the records of its
    child loggers (open311.outbox, sqlalchemy.engine.Engine, …), and handlers may be added
    after start-up (gunicorn's, a log shipper's), so redaction happens where every record
    is born."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.base(*args, **kwargs)
        _scrub(record)
        return record


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Redact every record of the process, and attach the filter (for `extra` fields) to
    every handler of the logger (root by default) and to the gateway's own loggers."""
    if not isinstance(logging.getLogRecordFactory(), _RedactingRecordFactory):
        logging.setLogRecordFactory(_RedactingRecordFactory(logging.getLogRecordFactory()))
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for name in ("open311", "adapters", "gunicorn.error", "werkzeug"):
        named = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in named.filters):
            named.addFilter(RedactingFilter())


LOG_FORMATS = ("text", "json")

# The attributes every record has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra` fields of a record, text values redacted like the message."""
    fields: dict[str, Any] = {}
    for name, value in vars(record).items():
        if name in _STANDARD or name.startswith("_"):
            continue
        if isinstance(value, str):
            value = redact(value)
        elif not isinstance(value, int | float | bool) and value is not None:
            value = redact(str(value))
        fields[name] = value
    return fields


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message key=value …`: one line a person can read and grep."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = " ".join(f"{k}={_text_value(v)}" for k, v in record_fields(record).items())
        if not pairs:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the line
        return f"{head} {pairs}{newline}{rest}"


def _text_value(value: Any) -> str:
    text = "-" if value is None else str(value)
    return json.dumps(text) if (" " in text or '"' in text or not text) else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the
    record's `extra` fields, and the (redacted) traceback as `exc`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(record_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


class _GatewayHandler(logging.StreamHandler[Any]):
    """The handler `configure_logging` installs, so a second call replaces it."""


def configure_logging(level: str = "INFO", fmt: str = "text", stream: Any = None) -> None:
    """Send every log record of the process to stderr (or `stream`), as text lines or
    JSON lines, redacted. Called once by the CLI; calling again replaces the set-up."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _GatewayHandler)]:
        root.removeHandler(handler)
    handler = _GatewayHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that narrate every step at INFO would drown the lines that matter.
    for name in ("alembic", "urllib3", "werkzeug"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
    install_redaction()
