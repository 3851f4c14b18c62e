"""CSRF tokens for every form: one random token per session, compared in constant time."""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

from ..errors import ForbiddenError


def csrf_token() -> str:
    """Return the session's CSRF token, creating it on first use."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf() -> None:
    """Raise ForbiddenError unless the form (or an X-CSRF-Token header) has the session's token."""
    expected = session.get("csrf")
    # The header is for scripts calling the admin API with a console session.
    given = request.form.get("csrf", "") or request.headers.get("X-CSRF-Token", "")
    # Compare bytes: compare_digest raises TypeError on non-ASCII str (a forged header).
    if not isinstance(expected, str) or not hmac.compare_digest(
        expected.encode(), given.encode()
    ):
        raise ForbiddenError("the form expired or came from elsewhere; reload the page and retry")
