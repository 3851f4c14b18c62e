"""One prepared read on a psycopg connection, through libpq directly: the hot path's statement.

psycopg's cursor spends more CPU in Python per execute (about 70 µs here) than the whole round
trip costs libpq; the check and token endpoints run one statement each, so they run it here:
prepared once per connection, executed with one blocking libpq call (which releases the GIL),
and loaded by psycopg's own Transformer, so values come back exactly as a cursor returns them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import MutableMapping, Sequence
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import Transformer

_STATE = "entitlements.prepared"  # key in a pooled connection's info (cleared when it closes)
_UNDEFINED_STATEMENT = b"26000"  # SQLSTATE invalid_sql_statement_name
_BINARY = 1  # result format: binary timestamps do not depend on the session's DateStyle


class _Prepared:
    """One connection's result loader and the names of the statements prepared on it."""

    __slots__ = ("loader", "names")

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.loader = Transformer(connection)
        self.names: set[bytes] = set()


@functools.lru_cache(maxsize=32)
def _statement(sql: str) -> tuple[bytes, bytes]:
    """Return a statement's name and text; the name follows the text, so no two texts share it."""
    text = sql.encode("utf-8")
    return b"entitlements_" + hashlib.sha256(text).hexdigest()[:20].encode("ascii"), text


def _raise_for(pgconn: pq.abc.PGconn, result: pq.abc.PGresult) -> None:
    """Raise the psycopg error a cursor would raise for a failed result."""
    message = (result.error_message or pgconn.error_message).decode("utf-8", "replace").strip()
    if pgconn.status == pq.ConnStatus.BAD:
        raise psycopg.OperationalError(message or "the connection to the database was lost")
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    try:
        error = errors.lookup(sqlstate.decode("ascii")) if sqlstate else psycopg.DatabaseError
    except KeyError:
        error = psycopg.DatabaseError
    raise error(message)


def fetch_prepared(
    info: MutableMapping[str, Any],
    connection: psycopg.Connection[Any],
    sql: str,
    params: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Run `sql` ($1, $2, … placeholders) as a prepared statement; return its rows.

    `info` is the pooled connection's info dictionary, where the connection's prepared state
    lives: SQLAlchemy clears it when the connection closes or is invalidated.
    """
    state: _Prepared | None = info.get(_STATE)
    if state is None:
        state = info[_STATE] = _Prepared(connection)
    pgconn = connection.pgconn
    args = [param.encode("utf-8") for param in params]
    result = _execute(pgconn, state, sql, args)
    if (
        result.status != pq.ExecStatus.TUPLES_OK
        and result.error_field(pq.DiagnosticField.SQLSTATE) == _UNDEFINED_STATEMENT
    ):
        # Someone ran DEALLOCATE on this connection (a pooler's reset, say): prepare again.
        state.names.clear()
        result = _execute(pgconn, state, sql, args)
    if result.status != pq.ExecStatus.TUPLES_OK:
        _raise_for(pgconn, result)
    state.loader.set_pgresult(result)
    return state.loader.load_rows(0, result.ntuples, tuple)


def _execute(
    pgconn: pq.abc.PGconn, state: _Prepared, sql: str, args: list[bytes]
) -> pq.abc.PGresult:
    """Execute `sql`'s prepared statement, preparing it first on this connection if needed."""
    name, text = _statement(sql)
    if name not in state.names:
        prepared = pgconn.prepare(name, text)
        if prepared.status != pq.ExecStatus.COMMAND_OK:
            _raise_for(pgconn, prepared)
        state.names.add(name)
    return pgconn.exec_prepared(name, args, result_format=_BINARY)
