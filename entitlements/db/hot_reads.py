"""The hot path's single-statement reads: kept autocommit connections, bounded, retried once."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import PoolProxiedConnection, QueuePool

from ..errors import UnavailableError
from ..forksafe import renew_after_fork
from .engines import POOL_SIZE, RECYCLE_SECONDS
from .prepared import fetch_prepared

READS = "entitlements.db.reads"
_KEPT_SINCE = "entitlements.kept_since"  # key in a pooled connection's info: (generation, when)
# Unacknowledged data on a dead link fails a hot-read connection after this long (libpq's own
# setting: nothing is sent to the server, or to a pooler in front of it).
READ_TCP_USER_TIMEOUT_MS = 10000


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


def bounded_reads(url: str, timeout: timedelta) -> dict[str, Any]:
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
