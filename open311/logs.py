"""Logging that cannot leak a reporter's personal data.

Personal fields never belong in a log line. Code does not log them, SQLAlchemy is told to
hide statement parameters, and this filter is the last line: it drops `extra` attributes
named like personal fields and masks anything shaped like an e-mail address, an api_key
parameter or a phone number in the formatted message and traceback.
"""

from __future__ import annotations

import logging
import re
import sys

from schemas.requests import PERSONAL_FIELDS

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_KEYED = re.compile(
    r"((?:api_key|" + "|".join(PERSONAL_FIELDS) + r")[\"']?\s*[=:]\s*[\"']?)([^&\s\"',)]+)",
    re.IGNORECASE,
)
_PHONE = re.compile(r"\+?\d[\d ().-]{7,}\d")


def redact(text: str) -> str:
    text = _KEYED.sub(r"\1[redacted]", text)
    text = _EMAIL.sub("[redacted-email]", text)
    return _PHONE.sub("[redacted-phone]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name in PERSONAL_FIELDS:
            if hasattr(record, name):
                setattr(record, name, "[redacted]")
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # formatted (and redacted) already
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of the logger (root by default) and to the
    gateway's own loggers, so records from any library pass through it."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for name in ("open311", "adapters", "gunicorn.error", "werkzeug"):
        named = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in named.filters):
            named.addFilter(RedactingFilter())


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    install_redaction()
