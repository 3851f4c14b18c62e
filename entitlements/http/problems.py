"""Errors as application/problem+json (RFC 9457), or as an HTML page on a page route."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, has_request_context, json, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from ..errors import DomainError
from ..pages import error_page, is_page_path

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"

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
