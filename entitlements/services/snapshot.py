"""The hot read path: a caller's key and an account's facts in one statement, one snapshot.

The check and token endpoints serve most of the traffic. Reading the service key, the
subscriptions, the grants and the bans with one UNION ALL in autocommit mode costs one round
trip, and one statement sees one consistent snapshot without a transaction around it. It runs
on the DB-API connection itself, prepared on PostgreSQL (db.prepared): SQLAlchemy's statement
machinery and psycopg's cursor each cost more than the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..access import BanFacts, GrantFacts, Policy, SubscriptionFacts
from .accounts import Facts, public_ban_message
from .service_keys import Caller

_SQL = """
    SELECT 's', s.id, s.status, s.lookup_keys,
           s.current_period_start, s.current_period_end, s.cancel_at,
           s.ended_at, s.access_revoked_at, s.cancel_at_period_end
      FROM subscriptions s WHERE s.account_id = {account}
    UNION ALL
    SELECT 'g', CAST(g.id AS VARCHAR(32)), g.feature, g.kind,
           g.starts_at, g.ends_at, g.revoked_at, NULL, NULL, g.ends_by_policy
      FROM grants g WHERE g.account_id = {account}
    UNION ALL
    SELECT 'b', CAST(b.id AS VARCHAR(32)), b.feature, b.public_message,
           b.starts_at, b.ends_at, b.lifted_at, NULL, NULL, NULL
      FROM bans b WHERE b.account_id = {account}
    UNION ALL
    SELECT 'k', k.name, k.scopes, NULL, NULL, NULL, NULL, NULL, NULL, NULL
      FROM service_keys k WHERE k.key_hash = {key_hash} AND k.revoked_at IS NULL
"""
# Positional parameters, numbered: PostgreSQL's and SQLite's own styles (db.fetch_all).
QUERIES = {
    "postgresql": _SQL.format(account="$1", key_hash="$2"),
    "sqlite": _SQL.format(account="?1", key_hash="?2"),
}


@dataclass(frozen=True)
class Snapshot:
    """The caller (None for an unknown or revoked key) and the account's facts."""

    caller: Caller | None
    facts: Facts


def _utc(value: Any) -> datetime | None:
    """Return a stored timestamp as aware UTC (SQLite keeps naive UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def snapshot_params(account_id: str, key_hash: str) -> tuple[str, str]:
    """Return the parameters of QUERIES for one account and one presented key."""
    return (account_id, key_hash)


def _at(value: Any) -> datetime:
    moment = _utc(value)
    assert moment is not None, "a NOT NULL timestamp came back NULL"
    return moment


def read_snapshot(rows: list[tuple[Any, ...]], policy: Policy) -> Snapshot:
    """Turn the rows of QUERIES into the caller and the account's facts."""
    subs, grants, bans = [], [], []
    caller = None
    for kind, ident, a, b, t1, t2, t3, t4, t5, flag in rows:
        if kind == "s":
            subs.append(
                SubscriptionFacts(
                    id=ident,
                    status=a,
                    lookup_keys=tuple(k for k in (b or "").split(",") if k),
                    current_period_start=_utc(t1),
                    current_period_end=_utc(t2),
                    cancel_at_period_end=bool(flag),
                    cancel_at=_utc(t3),
                    ended_at=_utc(t4),
                    access_revoked_at=_utc(t5),
                )
            )
        elif kind == "g":
            ends_at = policy.grant_end(_utc(t2), bool(flag))
            grants.append(GrantFacts(int(ident), a, b, _at(t1), ends_at, _utc(t3)))
        elif kind == "b":
            # The public message only: the admins' note (bans.reason) is never read here.
            ends_at = _utc(t2)
            message = public_ban_message(a, ends_at, b)
            bans.append(BanFacts(int(ident), a, message, _at(t1), ends_at, _utc(t3)))
        else:
            caller = Caller(ident, frozenset(a.split()))
    return Snapshot(caller, Facts(tuple(subs), tuple(grants), tuple(bans)))
