"""Engine and per-app-context session; the declarative base lives in models.base."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection, QueuePool

from .db_prepared import fetch_prepared
from .errors import UnavailableError
from .forksafe import renew_after_fork

EXTENSION = "entitlements.db"
READS = "entitlements.db.reads"
POOL_SIZE = 10
_KEPT_SINCE = "entitlements.kept_since"  # key in a pooled connection's info: (generation, when)
_OPENED_BY = "entitlements.opened_by"  # key in a pool record's info: the pid that connected
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

        return _owned_by_one_process(engine)
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    # A connection idle in the pool across a server restart is replaced at checkout instead
    # of failing the request that draws it: one `SELECT 1` per checkout. The hot reads turn it
    # off: they keep their connections out of the pool and run once more instead.
    kwargs.setdefault("pool_pre_ping", True)
    return _owned_by_one_process(
        create_engine(
            url,
            pool_size=POOL_SIZE,
            max_overflow=POOL_SIZE,
            pool_recycle=RECYCLE_SECONDS,
            connect_args=dict(connect_args or {}),
            **kwargs,
        )
    )


def _owned_by_one_process(engine: Engine) -> Engine:
    """Refuse, at checkout, a pooled connection opened by another process; renew after fork.

    The at-fork hook empties the child's pool without closing the parent's sockets
    (SQLAlchemy's advice for os.fork); the checkout check is the backstop for a fork the hook
    does not see.
    """

    @event.listens_for(engine, "connect")
    def _remember_process(_dbapi_connection: Any, record: Any) -> None:
        record.info[_OPENED_BY] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _same_process(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get(_OPENED_BY) != os.getpid():
            # Detach without closing: the socket is the parent's to close.
            record.dbapi_connection = proxy.dbapi_connection = None
            raise sa_exc.DisconnectionError("connection opened by another process")

    renew_after_fork(engine, lambda alive: alive.dispose(close=False))
    return engine


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
        # Bumped by dispose() and after a fork: connections of an earlier one are not kept.
        self._generation = 0
        renew_after_fork(self, HotReads._forget_parents)

    def _forget_parents(self) -> None:
        """In a forked child: leave the parent's sockets to the parent (the engine renews its
        own pool after the fork)."""
        self._idle = []
        self._generation += 1

    def acquire(self) -> PoolProxiedConnection:
        """Return an idle connection, or a new one from the engine's pool."""
        if self._keeps:
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

    def forget_idle(self) -> None:
        """Drop the idle connections and any in use: after a lost connection they are suspect."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.invalidate()

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
            pool_pre_ping=False,
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
    try:
        return _fetch_all(reads, queries, params)
    except UnavailableError as exc:
        if not isinstance(exc.__cause__, _DisconnectedError):
            raise
        # The kept connections died together (a server restart, a failover): the statement
        # only reads, so it runs once more on a new connection instead of failing the request.
        reads.forget_idle()
        return _fetch_all(reads, queries, params)


class _DisconnectedError(Exception):
    """The connection itself was lost (not the statement refused): retrying can help."""


def _fetch_all(
    reads: HotReads, queries: Mapping[str, str], params: Sequence[str]
) -> list[tuple[Any, ...]]:
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
        dbapi = dialect.loaded_dbapi
        lost = (
            connection is not None
            and isinstance(exc, dbapi.Error)
            and dialect.is_disconnect(exc, connection.driver_connection, None)
        )
        if connection is not None:
            connection.invalidate()
        if isinstance(exc, dbapi.OperationalError | dbapi.InterfaceError):
            cause: BaseException = exc
            if lost:
                cause = _DisconnectedError(str(exc))
                cause.__cause__ = exc
            raise UnavailableError("The database is unavailable; retry shortly.") from cause
        raise
    return rows


def dispose(app: Flask) -> None:
    """Close every connection `app` holds (before a fork, or when a command ends)."""
    sessions: sessionmaker[Session] = app.extensions[EXTENSION]
    bound = sessions.kw["bind"]
    assert isinstance(bound, Engine)
    bound.dispose()
    app.extensions[READS].dispose()


def engine() -> Engine:
    """Return the current app's engine."""
    factory: sessionmaker[Session] = current_app.extensions[EXTENSION]
    bound = factory.kw["bind"]
    assert isinstance(bound, Engine)
    return bound
