"""create_app(): the magazine's Flask app, wired to the service through the SDK only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Flask, current_app, g, render_template

from entitlements_client import (
    EntitlementsClient,
    EntitlementsError,
    EventReceiver,
    TokenVerifier,
)
from entitlements_client.flask import use_verifier

from .comments import CommentStore
from .settings import Settings

Clock = Callable[[], datetime]
TOKEN_COOKIE = "magazine_token"  # noqa: S105  (a cookie's name, not a secret)
EXTENSION = "magazine"


def utcnow() -> datetime:
    """Return the wall-clock time, timezone-aware."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Site:
    """What the views share: settings, the SDK objects, the comments and the clock."""

    settings: Settings
    client: EntitlementsClient
    verifier: TokenVerifier
    receiver: EventReceiver | None
    comments: CommentStore
    clock: Clock
    # Account id -> when (unix seconds) its last change event arrived: a kept token issued
    # before it is stale even when the change revoked nothing (a new subscription).
    changed_at: dict[str, float] = field(default_factory=dict)


def site() -> Site:
    """Return the current app's Site."""
    found = current_app.extensions[EXTENSION]
    assert isinstance(found, Site)
    return found


def create_app(settings: Settings, *, clock: Clock = utcnow) -> Flask:
    """Build the magazine; `clock` stamps comments and judges the edit window."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # The service's pages may share this host (another port): cookies must not collide.
        SESSION_COOKIE_NAME="magazine_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
    )
    # Without events the check answer is never cached across page loads (cache_ttl=0): a ban
    # must show on the next one. With events, the SDK caches until valid_until at the latest.
    client = EntitlementsClient(
        settings.service_url,
        settings.service_key,
        cache_ttl=60.0 if settings.events_delivered else 0.0,
    )
    verifier = TokenVerifier(
        f"{settings.service_url}/.well-known/jwks.json", settings.issuer, settings.audience
    )
    use_verifier(app, verifier, cookie=TOKEN_COOKIE, header=False)
    receiver = None
    if settings.event_secret:
        receiver = EventReceiver(settings.event_secret, verifier=verifier, client=client)
    app.extensions[EXTENSION] = Site(
        settings, client, verifier, receiver, CommentStore(settings.database), clock
    )

    from . import events, views

    app.register_blueprint(views.bp)
    app.register_blueprint(events.bp)

    @app.errorhandler(EntitlementsError)
    def service_unavailable(error: EntitlementsError) -> tuple[str, int]:
        # The reader sees a plain page; the cause goes to the log, not to the browser.
        app.logger.warning("entitlements service: %r", error)
        g.reader_entitlements = None  # the page's header and ads must not ask the service again
        return render_template(
            "message.html",
            title="We could not check your subscription",
            message="The subscription service did not answer. Please reload in a moment.",
        ), 503

    return app
