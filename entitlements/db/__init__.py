"""Engine and per-app-context session, and the hot reads beside them; the declarative base
lives in models.base."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .engines import POOL_SIZE, RECYCLE_SECONDS, make_engine
from .hot_reads import READ_TCP_USER_TIMEOUT_MS, READS, HotReads, bounded_reads, fetch_all

__all__ = [
    "EXTENSION",
    "POOL_SIZE",
    "READS",
    "READ_TCP_USER_TIMEOUT_MS",
    "RECYCLE_SECONDS",
    "HotReads",
    "carry_in_sessions",
    "dispose",
    "engine",
    "fetch_all",
    "init_app",
    "make_engine",
    "session",
]

EXTENSION = "entitlements.db"


def init_app(app: Flask, url: str, *, read_timeout: timedelta = timedelta(0)) -> None:
    """Attach an engine and a session factory to the app; sessions close with the context."""
    engine = make_engine(url)
    app.extensions[EXTENSION] = sessionmaker(engine, expire_on_commit=False)
    # Single-statement reads on the hot path skip BEGIN/ROLLBACK: one statement is one
    # snapshot. Its own small pool, set to autocommit once per connection.
    app.extensions[READS] = HotReads(
        make_engine(
            url,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
            pool_pre_ping=False,
            connect_args=bounded_reads(url, read_timeout),
        )
    )

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        db_session = g.pop("db_session", None)
        if db_session is not None:
            db_session.close()
        reads = g.pop("db_reads", None)
        if reads is not None:
            current_app.extensions[READS].release(reads)


def carry_in_sessions(app: Flask, info: dict[str, object]) -> None:
    """Put `info` into every session the app opens (Session.info), e.g. the access policy."""
    factory: sessionmaker[Session] = app.extensions[EXTENSION]
    factory.configure(info=info)


def session() -> Session:
    """Return the session of the current app context, opening it on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions[EXTENSION]()
    db_session: Session = g.db_session
    return db_session


def dispose(app: Flask) -> None:
    """Close every connection `app` holds (before a fork, or when a command ends)."""
    _engine_of(app).dispose()
    app.extensions[READS].dispose()


def engine() -> Engine:
    """Return the current app's engine."""
    return _engine_of(current_app)


def _engine_of(app: Flask) -> Engine:
    factory: sessionmaker[Session] = app.extensions[EXTENSION]
    bound = factory.kw["bind"]
    assert isinstance(bound, Engine)
    return bound
