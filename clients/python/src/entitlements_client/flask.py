"""Flask helpers: gate a view on a feature of the reader's verified token (imports Flask; the
rest of the package never does)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, jsonify, request

from .errors import JwksUnavailableError, VerificationError
from .results import Entitlements
from .verifier import TokenVerifier

F = TypeVar("F", bound=Callable[..., Any])
EXTENSION = "entitlements_client"
# RFC 6750 section 3: no error code when the request carried no token at all.
_ASK = {"WWW-Authenticate": "Bearer"}
_INVALID = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


@dataclass(frozen=True)
class Settings:
    """Where the token comes from and who verifies it."""

    verifier: TokenVerifier
    cookie: str | None
    header: bool


def use_verifier(
    app: Flask, verifier: TokenVerifier, *, cookie: str | None = None, header: bool = True
) -> None:
    """Verify this app's tokens with `verifier`, read from the bearer header and/or a cookie."""
    app.extensions[EXTENSION] = Settings(verifier, cookie, header)


def _settings() -> Settings:
    settings = current_app.extensions.get(EXTENSION)
    if not isinstance(settings, Settings):
        raise RuntimeError("call entitlements_client.flask.use_verifier(app, verifier) first")
    return settings


def _token(settings: Settings) -> str | None:
    if settings.header:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if settings.cookie is not None:
        return request.cookies.get(settings.cookie) or None
    return None


def current_entitlements() -> Entitlements | None:
    """Return the request's verified entitlements (None: no token or an invalid one); on g too."""
    if "entitlements" not in g:
        settings = _settings()
        token = _token(settings)
        g.entitlements_error = None
        g.entitlements = None
        if token is not None:
            try:
                g.entitlements = settings.verifier.verify(token)
            except VerificationError as error:
                g.entitlements_error = error
    return cast("Entitlements | None", g.entitlements)


def _problem(
    status: int, title: str, detail: str, code: str, headers: dict[str, str] | None = None
) -> Response:
    """A problem+json answer, as the Node SDK's middleware sends it (headers included)."""
    response = jsonify(type="about:blank", title=title, status=status, detail=detail, code=code)
    response.status_code = status
    response.mimetype = "application/problem+json"
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers or {})
    return response


def _refusal(error: VerificationError | None) -> Response:
    if error is None:
        return _problem(401, "Unauthorized", "no token", "missing_token", _ASK)
    if isinstance(error, JwksUnavailableError):
        # Our outage, not the reader's token: a 401 would make clients drop a good token.
        return _problem(503, "Service Unavailable", str(error), error.code, {"Retry-After": "5"})
    return _problem(401, "Unauthorized", str(error), error.code, _INVALID)


def requires_feature(feature: str) -> Callable[[F], F]:
    """Let the view run only for a verified token holding `feature`; it reads g.entitlements."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def gated(*args: Any, **kwargs: Any) -> Any:
            entitlements = current_entitlements()
            if entitlements is None:
                return _refusal(g.entitlements_error)
            if not entitlements.has(feature):
                return _problem(403, "Forbidden", f"the account lacks {feature!r}", "no_feature")
            return view(*args, **kwargs)

        return cast("F", gated)

    return decorate
