"""Domain errors and their problem+json (RFC 9457) rendering."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, has_request_context, json, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from .pages import error_page, is_page_path

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


class DomainError(Exception):
    """Base of errors a caller can act on; `status` is the HTTP status it maps to."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidError(DomainError):
    """The request is malformed or breaks a rule; the detail says what to fix."""

    status = 400
    title = "Invalid request"


class UnprocessableError(InvalidError):
    """The request fits the OpenAPI document but breaks a rule no schema can state.

    A time relation (an end in the past, before its start) or one between parameters: 422,
    so a 400 always means the document itself forbids the request.
    """

    status = 422
    title = "Unprocessable request"


class UnauthorizedError(DomainError):
    """No credentials, or credentials we do not know."""

    status = 401
    title = "Unauthorized"


class ForbiddenError(DomainError):
    """Known credentials without the needed scope."""

    status = 403
    title = "Forbidden"


class NotFoundError(DomainError):
    """The named thing does not exist."""

    status = 404
    title = "Not found"


class ConflictError(DomainError):
    """The request conflicts with the current state."""

    status = 409
    title = "Conflict"


class UnavailableError(DomainError):
    """A dependency is down; try again later."""

    status = 503
    title = "Service unavailable"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """Build an application/problem+json response (an HTML page on a page route)."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    if has_request_context() and is_page_path(request.path):
        # A browser on a page route gets a page (same status and headers), never raw JSON.
        response.set_data(error_page(status, title, detail))
        response.mimetype = "text/html"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="entitlements"'
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def register(app: Flask) -> None:
    """Render every error as problem+json; never leak internals."""

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Response:
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = problem(status, exc.name, exc.description or exc.name)
        # Keep what the exception says besides its HTML body: Allow on a 405 (RFC 9110
        # section 15.5.6), Retry-After on a 429 or 503.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeoutError)
    def _database(exc: Exception) -> Response:
        # Never answer "not entitled" because the database did not answer.
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem(503, "Service unavailable", "The database is unavailable; retry shortly.")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "Internal server error", "An unexpected error occurred.")
