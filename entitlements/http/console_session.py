"""The admin's browser session: start on sign-in, idle timeout, and the guard on every page."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from flask import g, redirect, request, session, url_for

from .. import db
from ..models import Admin
from ..runtime import now, runtime
from ..services.admins import admin_actor
from ..services.audit import Actor
from .csrf import check_csrf, csrf_token
from .request_id import current_request_id
from .session_cookie import CONSOLE_KEY

F = TypeVar("F", bound=Callable[..., Any])

# Kept apart from the subscriber's `account_id`: a reader's session never signs in an admin.
ADMIN_ID = CONSOLE_KEY
GENERATION = "admin_generation"
SEEN = "admin_seen"
SINCE = "admin_since"
# However active, a console session ends after a working day: a stolen cookie does not live on.
MAX_SESSION = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where sign-in may return to: a console path, with its query string.
_NEXT = re.compile(r"/admin(?:[/?][\x21-\x7e]*)?")
MAX_NEXT = 2048


def start_session(admin: Admin) -> None:
    """Replace whatever session the browser had with a new one for `admin`."""
    # Clearing first defeats session fixation: nothing chosen before sign-in survives it,
    # the CSRF token included.
    session.clear()
    session.permanent = False
    stamp = now().timestamp()
    session[ADMIN_ID] = admin.id
    session[GENERATION] = admin.session_generation
    session[SEEN] = stamp
    session[SINCE] = stamp
    csrf_token()


def end_session() -> None:
    """Forget the session in this browser."""
    session.clear()


def session_admin() -> Admin | None:
    """Return the signed-in admin and refresh the idle timer, or None (session cleared)."""
    admin_id = session.get(ADMIN_ID)
    if not isinstance(admin_id, int):
        return None
    stamp = now().timestamp()
    seen, since = session.get(SEEN), session.get(SINCE)
    idle = runtime().config.admin_idle_timeout.total_seconds()
    if (
        not isinstance(seen, float | int)
        or not isinstance(since, float | int)
        or stamp - seen > idle
        or stamp - since > MAX_SESSION.total_seconds()
    ):
        session.clear()
        g.admin_session_expired = True
        return None
    admin = db.session().get(Admin, admin_id)
    # Signing out or disabling bumps the generation: copies of older cookies stop working.
    if (
        admin is None
        or admin.disabled_at is not None
        or admin.session_generation != session.get(GENERATION)
    ):
        session.clear()
        return None
    session[SEEN] = stamp
    return admin


def current_actor() -> Actor:
    """Return the audit actor of the signed-in admin, with the request id."""
    admin: Admin = g.admin
    return admin_actor(admin, current_request_id())


def safe_next(target: str | None) -> str:
    """Return `target` if it is a console path, else the console's home (no open redirect)."""
    # Printable ASCII only: CR/LF would split the Location header, and browsers drop tabs
    # and read a backslash as a slash, so "/<backslash>evil" or "/<tab>/evil" is another host.
    if (
        target
        and len(target) <= MAX_NEXT
        and _NEXT.fullmatch(target)
        and "\\" not in target
        and "//" not in target
    ):
        return target
    return url_for("console.accounts")


def admin_required(view: F) -> F:
    """Run the view only for a signed-in admin; state-changing requests need the CSRF token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        admin = session_admin()
        if admin is None:
            expired = "1" if g.get("admin_session_expired") else None
            wanted = request.full_path.rstrip("?") if request.method in SAFE_METHODS else None
            return redirect(url_for("console.login", next=wanted, expired=expired), code=303)
        g.admin = admin
        if request.method not in SAFE_METHODS:
            check_csrf()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def api_session_actor() -> str | None:
    """Return `admin:<email>` for an API request made with a console session, or None."""
    admin = session_admin()
    if admin is None:
        return None
    if request.method not in SAFE_METHODS:
        # A cookie rides along on any request the browser makes: writes need the token too,
        # sent by a script as the X-CSRF-Token header.
        check_csrf()
    return admin_actor(admin, None).name
