"""create_app(): the only wiring point — config, database, blueprints, errors, CLI."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import db
from .access import Policy
from .billing.stripe_gateway import StripeGateway
from .catalog import CatalogError, load_catalog
from .clock import utcnow
from .config import ConfigError, load_config
from .http import problems
from .http.request_id import RequestIdMiddleware
from .http.request_text import CheckedRequest
from .http.session_cookie import EXPIRED_NOTICE, CachedSignerSessionInterface
from .runtime import EXTENSION, Runtime
from .services.change_events import POLICY_INFO
from .services.revocation_time import CLOCK_INFO
from .tokens.keys import KeyRing


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the application from ENTITLEMENTS_* settings, `overrides` winning (tests, demo run)."""
    config = load_config(overrides)
    logging.basicConfig(level=config.log_level)
    app = Flask(__name__, instance_path=config.instance_path)
    # Query strings and forms that break the text rules are a 400, read by any view.
    app.request_class = CheckedRequest
    app.config.update(
        SECRET_KEY=config.secret_key,
        TESTING=bool(config.extra.get("TESTING", False)),
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_NAME="entitlements_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.cookie_secure,
        PERMANENT_SESSION_LIFETIME=3600,
    )
    try:
        catalog = load_catalog(config.catalog_path)
    except CatalogError as exc:
        raise ConfigError(f"ENTITLEMENTS_CATALOG: {exc}") from exc
    policy = Policy(
        catalog=catalog,
        past_due_grace=config.past_due_grace,
        renewal_grace=config.renewal_grace,
        grandfather_until=config.grandfather_until,
    )
    clock = config.extra.get("CLOCK", utcnow)
    app.extensions[EXTENSION] = Runtime(
        config=config,
        catalog=catalog,
        policy=policy,
        keyring=KeyRing(config.secret_key),
        clock=clock,
        gateway=(
            StripeGateway(
                config.stripe_secret_key,
                config.stripe_api_base,
                timeout=config.stripe_timeout.total_seconds(),
            )
            if config.stripe_secret_key
            else None
        ),
    )
    # Console cookies must outlive the longest idle timeout, or it is cut short silently.
    app.session_interface = CachedSignerSessionInterface(
        clock, max_age=config.admin_idle_timeout + EXPIRED_NOTICE
    )
    db.init_app(app, config.database_url, read_timeout=config.read_timeout)
    # Services that change access write change events, which need the policy to resolve.
    # The clock too: a revoking change reads it again just before commit (revocation_time).
    db.carry_in_sessions(app, {POLICY_INFO: policy, CLOCK_INFO: clock})
    problems.register(app)
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    if config.trusted_proxies:
        # Only as many X-Forwarded-* entries as there are proxies of ours: any further left
        # were written by the client, who could otherwise pick its address (and throttle).
        hops = config.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops
        )

    from .admin import views as admin_views
    from .api import accounts, admin, health, jwks, openapi, revocations, webhooks
    from .api import policy as policy_api
    from .web import views

    for blueprint in (health.bp, accounts.bp, jwks.bp, openapi.bp, webhooks.bp, views.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin.bp)
    app.register_blueprint(policy_api.bp)
    app.register_blueprint(revocations.bp)
    app.register_blueprint(admin_views.bp)
    if config.demo:
        from .web import demo

        app.register_blueprint(demo.bp)
    return app
