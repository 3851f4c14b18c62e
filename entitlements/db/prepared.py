"""One prepared read on a psycopg connection, through libpq directly: the hot path's statement.

psycopg's cursor spends more CPU in Python per execute (about 70 µs here) than the whole round
trip costs libpq; the check and token endpoints run one statement each, so they run it here:
prepared once per connection, executed with one blocking libpq call (which releases the GIL),
and loaded by psycopg's own Transformer, so values come back exactly as a cursor returns them.
The blocking call is bounded by the reads engine's statement and TCP timeouts (db.py), not by
signals, which libpq's wait ignores.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import MutableMapping, Sequence
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import Transformer

_STATE = "entitlements.prepared"  # key in a pooled connection's info (see fetch_prepared)
_BINARY = 1  # result format: binary timestamps do not depend on the session's DateStyle
# SQLSTATEs after which preparing again on the same connection is the fix.
_UNDEFINED_STATEMENT = b"26000"  # DEALLOCATE ran on the connection (a pooler's reset, say)
_PLAN_CHANGED = b"0A000"  # "cached plan must not change result type": a migration altered a column
_DUPLICATE_STATEMENT = b"42P05"  # the name exists: the same text, as the name is its hash


class _Prepared:
    """One connection's result loader and its prepared statements' parameter counts."""

    __slots__ = ("connection", "loader", "params")

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.loader = Transformer(connection)
        self.params: dict[bytes, int] = {}


@functools.lru_cache(maxsize=32)
def _statement(sql: str) -> tuple[bytes, bytes]:
    """Return a statement's name and text; the name follows the text, so no two texts share it."""
    text = sql.encode("utf-8")
    return b"entitlements_" + hashlib.sha256(text).hexdigest()[:20].encode("ascii"), text


def _error(pgconn: pq.abc.PGconn, result: pq.abc.PGresult) -> psycopg.Error:
    """Return the psycopg error a cursor would raise for a failed result."""
    if pgconn.status == pq.ConnStatus.BAD:
        message = pgconn.error_message.decode("utf-8", "replace").strip()
        return psycopg.OperationalError(message or "the connection to the database was lost")
    if result.status in (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.NONFATAL_ERROR):
        return errors.error_from_result(result)
    status = pq.ExecStatus(result.status).name
    return psycopg.ProgrammingError(f"the statement returned no rows ({status})")


def fetch_prepared(
    info: MutableMapping[str, Any],
    connection: psycopg.Connection[Any],
    sql: str,
    params: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Run `sql` ($1, $2, … placeholders) as a prepared statement; return its rows.

    `info` is the pooled connection's info dictionary. SQLAlchemy empties it before it attaches
    a new DB-API connection to the pool entry, and the state names its connection besides, so
    statements prepared on one connection are never taken as prepared on another.
    """
    state: _Prepared | None = info.get(_STATE)
    if state is None or state.connection is not connection:
        state = info[_STATE] = _Prepared(connection)
    args = []
    for param in params:
        if "\x00" in param:
            # libpq sends text parameters as C strings: a NUL would cut the value short.
            raise psycopg.DataError("a query parameter contains a NUL character")
        args.append(param.encode("utf-8"))
    pgconn = connection.pgconn
    result = _execute(pgconn, state, sql, args)
    if result.status != pq.ExecStatus.TUPLES_OK and result.error_field(
        pq.DiagnosticField.SQLSTATE
    ) in (_UNDEFINED_STATEMENT, _PLAN_CHANGED):
        name, _ = _statement(sql)
        state.params.pop(name, None)
        pgconn.exec_(b"DEALLOCATE " + name)  # fails harmlessly when it is already gone
        result = _execute(pgconn, state, sql, args)
    if result.status != pq.ExecStatus.TUPLES_OK:
        raise _error(pgconn, result)
    state.loader.set_pgresult(result)
    return state.loader.load_rows(0, result.ntuples, tuple)


def _execute(
    pgconn: pq.abc.PGconn, state: _Prepared, sql: str, args: list[bytes]
) -> pq.abc.PGresult:
    """Execute `sql`'s prepared statement, preparing it first on this connection if needed."""
    name, text = _statement(sql)
    expected = state.params.get(name)
    if expected is None:
        prepared = pgconn.prepare(name, text)
        if prepared.status != pq.ExecStatus.COMMAND_OK and (
            prepared.error_field(pq.DiagnosticField.SQLSTATE) != _DUPLICATE_STATEMENT
        ):
            raise _error(pgconn, prepared)
        described = pgconn.describe_prepared(name)
        if described.status != pq.ExecStatus.COMMAND_OK:
            raise _error(pgconn, described)
        expected = state.params[name] = described.nparams
    if len(args) != expected:
        # What a cursor says, before anything reaches the server.
        raise psycopg.ProgrammingError(f"the query has {expected} placeholders, {len(args)} given")
    return pgconn.exec_prepared(name, args, result_format=_BINARY)
