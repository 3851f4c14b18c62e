"""Checks a serving process makes before it accepts traffic."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from . import db
from .config import ConfigError
from .models import SigningKey
from .runtime import runtime
from .tokens.keys import key_states
from .tokens.service import STARTUP_ACTOR, create_first_key


def check_ready_to_serve(app: Flask) -> None:
    """In production, refuse to serve without an active signing key (never generate one);
    in development, create the first one (audited), so the JWKS is never empty while tokens
    can be issued.

    It runs in gunicorn's master before the fork, so it leaves no connection open.
    """
    try:
        _check_signing_key(app)
        _ensure_signing_key(app)
    finally:
        db.dispose(app)


def _ensure_signing_key(app: Flask) -> None:
    with app.app_context():
        rt = runtime()
        if rt.config.is_production:
            return
        session = db.session()
        try:
            create_first_key(session, config=rt.config, now=rt.clock(), actor=STARTUP_ACTOR)
            session.commit()
        except (OperationalError, ProgrammingError) as exc:
            raise ConfigError(
                "cannot create the first signing key: the database does not answer, or is "
                "not migrated (run `entitlements db upgrade`)"
            ) from exc
        finally:
            session.close()


def _check_signing_key(app: Flask) -> None:
    with app.app_context():
        rt = runtime()
        if not rt.config.is_production:
            return
        try:
            rows = list(db.session().scalars(select(SigningKey)))
        except OperationalError as exc:
            raise ConfigError(
                "cannot read signing keys: the database does not answer, or is not migrated "
                "(run `entitlements db upgrade`)"
            ) from exc
        states = key_states(rows, now=rt.clock(), token_ttl=rt.config.token_ttl)
        if not any(s.state == "active" for s in states):
            raise ConfigError(
                "no active signing key in production; run `entitlements signing-keys rotate` "
                "once before serving"
            )
