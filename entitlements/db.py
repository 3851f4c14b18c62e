"""Engine and per-app-context session; the declarative base lives in models.base."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection, QueuePool

from .db_prepared import fetch_prepared
from .errors import UnavailableError

EXTENSION = "entitlements.db"
READS = "entitlements.db.reads"
POOL_SIZE = 10
_KEPT_SINCE = "entitlements.kept_since"  # key in a pooled connection's info: (generation, when)
RECYCLE_SECONDS = 1800  # a connection older than this is replaced (NAT and proxy timeouts)
# Unacknowledged data on a dead link fails a hot-read connection after this long (libpq's own
# setting: nothing is sent to the server, or to a pooler in front of it).
READ_TCP_USER_TIMEOUT_MS = 10000


def make_engine(url: str, connect_args: Mapping[str, Any] | None = None, **kwargs: Any) -> Engine:
    """Create an engine with the settings each backend needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 15, **(connect_args or {})}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if parsed.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        return engine
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    return create_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
        pool_recycle=RECYCLE_SECONDS,
        connect_args=dict(connect_args or {}),
        **kwargs,
    )


class HotReads:
    """The autocommit connections of the single-statement reads on the hot path.

    Between requests an idle connection waits here rather than in the engine's pool: a
    checkout from SQLAlchemy's pool and back cost about a third as much as the query itself.
    At most POOL_SIZE wait, each for at most RECYCLE_SECONDS after it left the pool (which
    recycles by age at checkout). Only pools that hand a connection to any thread
    (QueuePool) keep connections here.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._keeps = isinstance(engine.pool, QueuePool)
        self._idle: list[PoolProxiedConnection] = []
        self._pid = os.getpid()
        # Bumped by dispose() and after a fork: connections of an earlier one are not kept.
        self._generation = 0

    def acquire(self) -> PoolProxiedConnection:
        """Return an idle connection, or a new one from the engine's pool."""
        if self._keeps:
            if self._pid != os.getpid():
                # A forked child must not use its parent's sockets: leave them to the parent,
                # with the pool that holds them (SQLAlchemy's advice for forking).
                self._idle, self._pid = [], os.getpid()
                self._generation += 1
                self.engine.dispose(close=False)
            try:
                return self._idle.pop()  # atomic: two threads never get the same one
            except IndexError:
                pass
        connection = self.engine.raw_connection()
        connection.info[_KEPT_SINCE] = (self._generation, time.monotonic())
        return connection

    def release(self, connection: PoolProxiedConnection) -> None:
        """Keep a connection whose statement completed for the next request, or return it."""
        generation, since = connection.info.get(_KEPT_SINCE, (None, 0.0))
        if generation != self._generation:
            # Its pool was disposed: close it here, or it lingers until garbage collection.
            connection.invalidate()
        elif (
            self._keeps
            and time.monotonic() - since < RECYCLE_SECONDS
            and len(self._idle) < POOL_SIZE
        ):
            self._idle.append(connection)
        else:
            connection.close()

    def dispose(self) -> None:
        """Close the idle connections and the engine's pool; ones in use are not kept."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        self.engine.dispose()


def _bounded_reads(url: str, timeout: timedelta) -> dict[str, Any]:
    """Return the connect arguments that bound a hot read on PostgreSQL (none on SQLite).

    A statement waiting longer than `timeout` (behind a migration's lock, say) is cancelled by
    the server and answered 503; a zero timeout sends no startup option, for poolers that
    refuse one they do not track.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return {}
    args: dict[str, Any] = {
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "tcp_user_timeout": READ_TCP_USER_TIMEOUT_MS,
    }
    if timeout:
        given = parsed.query.get("options", ())
        given = " ".join((given,) if isinstance(given, str) else given)
        milliseconds = int(timeout.total_seconds() * 1000)
        # The URL's own options come after, so an operator's explicit setting wins.
        args["options"] = f"-c statement_timeout={milliseconds} {given}".strip()
    return args


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
            connect_args=_bounded_reads(url, read_timeout),
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


def has_session() -> bool:
    """Return whether this context has opened its session."""
    return "db_session" in g


def session() -> Session:
    """Return the session of the current app context, opening it on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions[EXTENSION]()
    db_session: Session = g.db_session
    return db_session


def fetch_all(queries: Mapping[str, str], params: Sequence[str]) -> list[tuple[Any, ...]]:
    """Run one read-only statement (chosen by dialect; positional `?1`/`$1` parameters) on the
    context's autocommit DB-API connection; a lost connection is dropped from the pool and
    answered as unavailable."""
    reads: HotReads = current_app.extensions[READS]
    dialect = reads.engine.dialect
    try:
        if "db_reads" not in g:
            # The pool hands out the driver's connection; its errors arrive unwrapped.
            g.db_reads = reads.acquire()
        connection = g.db_reads
        if dialect.name == "postgresql":
            rows = fetch_prepared(
                connection.info, connection.driver_connection, queries[dialect.name], params
            )
        else:
            cursor = connection.cursor()
            cursor.execute(queries[dialect.name], params)
            rows = cursor.fetchall()
    except BaseException as exc:
        # Whatever failed, the connection is not kept for another request.
        connection = g.pop("db_reads", None)
        if connection is not None:
            connection.invalidate()
        if isinstance(
            exc, dialect.loaded_dbapi.OperationalError | dialect.loaded_dbapi.InterfaceError
        ):
            raise UnavailableError("The database is unavailable; retry shortly.") from exc
        raise
    return rows


def engine() -> Engine:
    """Return the current app's engine."""
    factory: sessionmaker[Session] = current_app.extensions[EXTENSION]
    bound = factory.kw["bind"]
    assert isinstance(bound, Engine)
    return bound
