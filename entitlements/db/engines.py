"""Engines with the settings each backend needs, each owned by the process that opened it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from ..forksafe import renew_after_fork

POOL_SIZE = 10
RECYCLE_SECONDS = 1800  # a connection older than this is replaced (NAT and proxy timeouts)
_OPENED_BY = "entitlements.opened_by"  # key in a pool record's info: the pid that connected


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
