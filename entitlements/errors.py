"""Domain errors: what a caller can act on, and the HTTP status each maps to (no Flask here;
http/problems.py renders them)."""

from __future__ import annotations

from typing import Any


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
