"""Every failure answers the Open311 error list in the requested format: never HTML."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .db import database_unavailable
from .render import render

log = logging.getLogger("open311")


class APIError(Exception):
    """An error for the client: an HTTP status and one or more (code, description)."""

    def __init__(
        self,
        status: int,
        description: str | list[str],
        *,
        code: int | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        descriptions = [description] if isinstance(description, str) else description
        super().__init__("; ".join(descriptions))
        self.status = status
        self.errors = [(code if code is not None else status, d) for d in descriptions]
        self.headers = headers or {}


def requested_format() -> str:
    """The format the client asked for: the path's extension, JSON when it cannot be told."""
    fmt = (request.view_args or {}).get("fmt")
    if fmt in ("json", "xml"):
        return fmt
    return "xml" if request.path.rstrip("/").endswith(".xml") else "json"


def error_response(
    status: int, errors: list[tuple[Any, str]], headers: dict[str, str] | None = None
) -> Response:
    body = [{"code": code, "description": description} for code, description in errors]
    response = render(body, "errors", requested_format(), status=status)
    response.headers.update(headers or {})
    return response


_HTTP_DESCRIPTIONS = {
    400: "The request could not be understood.",
    404: "No such resource. The Open311 resources are discovery, services, "
    "services/{service_code}, requests, requests/{service_request_id} and tokens/{token}, "
    "each ending in .json or .xml.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    429: "Too many requests; slow down.",
}

# While the database is away: how long a client should wait before trying again.
DATABASE_RETRY_AFTER = 5


def database_unavailable_response() -> Response:
    return error_response(
        503,
        [(503, "The gateway's database is unavailable; please try again shortly.")],
        {"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(APIError)
    def _api_error(exc: APIError) -> Response:
        return error_response(exc.status, exc.errors, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        description = _HTTP_DESCRIPTIONS.get(status) or exc.description or exc.name
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            description = f"{description} Allowed: {', '.join(exc.valid_methods)}."
        headers = {k: v for k, v in exc.get_headers() if k.lower() not in ("content-type",)}
        return error_response(status, [(status, description)], headers)

    @app.errorhandler(SQLAlchemyError)
    def _database_error(exc: SQLAlchemyError) -> Response:
        # The pool reconnects by itself (db._alive, invalidation on disconnect), so the
        # first request after the database is back succeeds: nothing to reset here.
        if database_unavailable(exc):
            first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
            log.warning(
                "database unavailable on %s %s: %s", request.method, request.path, first_line
            )
            return database_unavailable_response()
        return _unexpected(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # The traceback goes to the log, never to the client (it may quote input).
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500, [(500, "The gateway hit an internal error. It has been logged.")]
        )
