"""Bearer service-key authentication and scope checks for API views."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, request

from .. import db
from ..errors import ForbiddenError, UnauthorizedError
from ..services.service_keys import Caller, authenticate

F = TypeVar("F", bound=Callable[..., Any])


def current_caller(scope: str) -> Caller:
    """Authenticate the request's bearer key and require `scope`."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise UnauthorizedError("send a service key as `Authorization: Bearer <key>`")
    caller = authenticate(db.session(), key.strip())
    if caller is None:
        raise UnauthorizedError("unknown or revoked service key")
    if scope not in caller.scopes:
        raise ForbiddenError(f"this service key lacks the scope {scope!r}", scope=scope)
    return caller


def require_scope(scope: str) -> Callable[[F], F]:
    """Decorate a view so it runs only for a service key holding `scope`."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.caller = current_caller(scope)
            return view(*args, **kwargs)

        wrapper.__dict__.setdefault("openapi", {})["security"] = scope
        return cast(F, wrapper)

    return decorate
