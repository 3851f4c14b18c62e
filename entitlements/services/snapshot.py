"""The hot read path: a caller's key and an account's facts in one statement, one snapshot.

The check and token endpoints serve most of the traffic. Reading the service key, the
subscriptions, the grants and the bans with one UNION ALL in autocommit mode costs one round
trip, and one statement sees one consistent snapshot without a transaction around it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Boolean, Connection, String, Text, text

from ..access import BanFacts, GrantFacts, Policy, SubscriptionFacts
from ..models.base import UTCDateTime
from .accounts import Facts
from .service_keys import Caller

_COLUMNS = {
    "kind": String,
    "id": String,
    "a": Text,
    "b": Text,
    "t1": UTCDateTime,
    "t2": UTCDateTime,
    "t3": UTCDateTime,
    "t4": UTCDateTime,
    "t5": UTCDateTime,
    "flag": Boolean,
}

# Typed columns: the datetimes come back timezone-aware on both engines.
_QUERY = text(
    """
    SELECT 's' AS kind, s.id AS id, s.status AS a, s.lookup_keys AS b,
           s.current_period_start AS t1, s.current_period_end AS t2, s.cancel_at AS t3,
           s.ended_at AS t4, s.access_revoked_at AS t5, s.cancel_at_period_end AS flag
      FROM subscriptions s WHERE s.account_id = :account_id
    UNION ALL
    SELECT 'g', CAST(g.id AS VARCHAR(32)), g.feature, g.kind,
           g.starts_at, g.ends_at, g.revoked_at, NULL, NULL, g.ends_by_policy
      FROM grants g WHERE g.account_id = :account_id
    UNION ALL
    SELECT 'b', CAST(b.id AS VARCHAR(32)), b.feature, b.reason,
           b.starts_at, b.ends_at, b.lifted_at, NULL, NULL, NULL
      FROM bans b WHERE b.account_id = :account_id
    UNION ALL
    SELECT 'k', k.name, k.scopes, NULL, NULL, NULL, NULL, NULL, NULL, NULL
      FROM service_keys k WHERE k.key_hash = :key_hash AND k.revoked_at IS NULL
    """
).columns(**{name: kind() for name, kind in _COLUMNS.items()})


@dataclass(frozen=True)
class Snapshot:
    """The caller (None for an unknown or revoked key) and the account's facts."""

    caller: Caller | None
    facts: Facts


def read_snapshot(
    connection: Connection, account_id: str, key_hash: str, policy: Policy
) -> Snapshot:
    """Read the key and the account's facts in one statement."""
    subs, grants, bans = [], [], []
    caller = None
    for row in connection.execute(_QUERY, {"account_id": account_id, "key_hash": key_hash}):
        if row.kind == "s":
            subs.append(
                SubscriptionFacts(
                    id=row.id,
                    status=row.a,
                    lookup_keys=tuple(k for k in (row.b or "").split(",") if k),
                    current_period_start=row.t1,
                    current_period_end=row.t2,
                    cancel_at_period_end=bool(row.flag),
                    cancel_at=row.t3,
                    ended_at=row.t4,
                    access_revoked_at=row.t5,
                )
            )
        elif row.kind == "g":
            ends_at = policy.grant_end(row.t2, bool(row.flag))
            grants.append(GrantFacts(int(row.id), row.a, row.b, row.t1, ends_at, row.t3))
        elif row.kind == "b":
            bans.append(BanFacts(int(row.id), row.a, row.b, row.t1, row.t2, row.t3))
        else:
            caller = Caller(row.id, frozenset(row.a.split()))
    return Snapshot(caller, Facts(tuple(subs), tuple(grants), tuple(bans)))
