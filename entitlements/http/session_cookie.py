"""Flask's signed-cookie session, made cheap for the API requests that never use it.

Cookies are signed and aged on the app's clock, like every other time the service judges.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from ..clock import utcnow

# A console cookie stays readable this long past the admin idle timeout, so an admin coming
# back is told their session expired (console_session.py decides that, not the signature).
EXPIRED_NOTICE = timedelta(hours=24)
# The session key that makes a session the console's (console_session.py uses it).
CONSOLE_KEY = "admin_id"


class CachedSignerSessionInterface(SecureCookieSessionInterface):
    """Flask's session interface, minus work on requests that carry no session and use none.

    Flask builds a serializer on every request, cookie or not, and works out every cookie
    setting when saving even an untouched empty session: together about a fifth of the cost
    of a bare Flask request, paid on every check and token request. Here the serializer is
    reused while the secret keys are unchanged, and an empty session nobody touched is not
    saved (Flask would neither set a cookie nor add Vary for it).

    Flask also rejects every cookie signed longer ago than PERMANENT_SESSION_LIFETIME (the
    reader's hour), which cut console sessions with a longer idle timeout short, without the
    "expired" notice. Here a console session is readable for `max_age`, and judges its own
    idle timeout and cap; every other session keeps Flask's limit.
    """

    def __init__(
        self, clock: Callable[[], datetime] = utcnow, max_age: timedelta = EXPIRED_NOTICE
    ) -> None:
        self._cached: tuple[tuple[object, ...], URLSafeTimedSerializer | None] | None = None
        self._clock = clock
        self._max_age = max_age

        class ClockSigner(TimestampSigner):
            """itsdangerous's signer, reading the app's clock instead of time.time()."""

            def get_timestamp(self) -> int:
                return int(clock().timestamp())

        self._signer = ClockSigner

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Return the serializer for the app's current secret key and fallbacks."""
        if not app.secret_key:
            return None
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._cached
        if cached is None or cached[0] != keys:
            serializer = URLSafeTimedSerializer(
                # itsdangerous signs with the last key and accepts every one (Flask's order).
                [*keys[1:], keys[0]],
                salt=self.salt,
                serializer=self.serializer,
                signer=self._signer,
                signer_kwargs={
                    "key_derivation": self.key_derivation,
                    "digest_method": self.digest_method,
                },
            )
            cached = self._cached = (keys, serializer)
        return cached[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Return the request's session; a missing, forged or too old cookie gets an empty one."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        lifetime = app.permanent_session_lifetime
        try:
            data, signed_at = serializer.loads(
                value,
                max_age=int(max(lifetime, self._max_age).total_seconds()),
                return_timestamp=True,
            )
        except BadSignature:
            return self.session_class()
        if not isinstance(data, dict):
            return self.session_class()
        # Any other session (the reader's) lasts Flask's lifetime from its last request.
        if CONSOLE_KEY not in data and self._clock() - signed_at > lifetime:
            return self.session_class()
        return self.session_class(data)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Save the session as Flask does, skipping an empty session nobody read or changed."""
        if not session and not session.accessed and not session.modified:
            return
        super().save_session(app, session, response)
