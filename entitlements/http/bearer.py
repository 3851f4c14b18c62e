"""Who calls the JSON API: a bearer service key with its scopes, or an admin's console session."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, request

from .. import db
from ..errors import ForbiddenError, UnauthorizedError
from ..services.audit import Actor
from ..services.service_keys import Caller, authenticate
from .console_session import api_session_actor
from .request_id import current_request_id

F = TypeVar("F", bound=Callable[..., Any])


def bearer_key() -> str:
    """Return the request's bearer key, or raise 401 if there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise UnauthorizedError("send a service key as `Authorization: Bearer <key>`")
    return key.strip()


def check_scope(caller: Caller | None, scope: str) -> Caller:
    """Return the caller if it is known and holds `scope`; raise 401 or 403 otherwise."""
    if caller is None:
        raise UnauthorizedError("unknown or revoked service key")
    if scope not in caller.scopes:
        raise ForbiddenError(f"this service key lacks the scope {scope!r}", scope=scope)
    return caller


def current_caller(scope: str) -> Caller:
    """Authenticate the request's bearer key and require `scope`."""
    return check_scope(authenticate(db.session(), bearer_key()), scope)


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


def current_admin() -> str:
    """Return the actor: `key:<name>` for a service key, `admin:<email>` for a console session."""
    # A console session counts only without an Authorization header: a bad key is never
    # rescued by a cookie. Writes through a session need the X-CSRF-Token header.
    if "Authorization" not in request.headers:
        actor = api_session_actor()
        if actor is not None:
            return actor
    caller = current_caller("admin")
    return f"key:{caller.name}"


def require_admin(view: F) -> F:
    """Decorate a view so it runs only for an admin: a service key with scope `admin`, or a
    console session.

    The actor's name is left in `g.admin_actor` for the audit trail (see `admin_actor`).
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.admin_actor = current_admin()
        return view(*args, **kwargs)

    wrapper.__dict__.setdefault("openapi", {})["security"] = "admin"
    return cast(F, wrapper)


def admin_actor() -> Actor:
    """Return the audit actor of the admin making this request, with the request id."""
    return Actor(name=g.admin_actor, request_id=current_request_id())
