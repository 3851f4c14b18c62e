"""Flask's signed-cookie session, made cheap for the API requests that never use it."""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class CachedSignerSessionInterface(SecureCookieSessionInterface):
    """Flask's session interface, minus work on requests that carry no session and use none.

    Flask builds a serializer on every request, cookie or not, and works out every cookie
    setting when saving even an untouched empty session: together about a fifth of the cost
    of a bare Flask request, paid on every check and token request. Here the serializer is
    reused while the secret keys are unchanged, and an empty session nobody touched is not
    saved (Flask would neither set a cookie nor add Vary for it).
    """

    def __init__(self) -> None:
        self._cached: tuple[tuple[object, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Return the serializer for the app's current secret key and fallbacks."""
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._cached
        if cached is None or cached[0] != keys:
            cached = self._cached = (keys, super().get_signing_serializer(app))
        return cached[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Return the request's session; a request without the cookie gets an empty one."""
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Save the session as Flask does, skipping an empty session nobody read or changed."""
        if not session and not session.accessed and not session.modified:
            return
        super().save_session(app, session, response)
