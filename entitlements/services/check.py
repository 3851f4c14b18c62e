"""The check: a caller's key and an account's facts in one statement, one snapshot, resolved.

The check and token endpoints serve most of the traffic. Reading the service key, the
subscriptions, the grants and the bans with one UNION ALL in autocommit mode costs one round
trip, and one statement sees one consistent snapshot without a transaction around it. It runs
on the DB-API connection itself, prepared on PostgreSQL (db.prepared): SQLAlchemy's statement
machinery and psycopg's cursor each cost more than the query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..access import Access, Policy, resolve
from ..clock import to_rfc3339
from .account_facts import facts_from_rows
from .accounts import validate_account_id
from .service_keys import Caller, lookup_hash

# The fact rows of account_facts (same columns, same order), then the presented key's row.
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

# Token issuance waits here for a change of the account in flight: record_change holds the
# account's advisory lock (revocation_time.hold_for_change) until its commit, so the next
# statement (a new snapshot, autocommit) sees the change. An advisory lock, not the account
# row FOR SHARE: a row lock takes a transaction id and a WAL flush at its commit (measured:
# token issue 38 % slower), a shared advisory lock neither. Not on the check API's read: it
# answers from request time and is always current. SQLite serialises writers: one step there.
WAIT_QUERIES = {
    "postgresql": "SELECT 1 FROM (SELECT pg_advisory_xact_lock_shared(hashtextextended($1, "
    "0))) AS waited",
    "sqlite": "SELECT 1 WHERE ?1 IS NOT NULL",
}

# Runs one read-only statement, chosen by dialect from QUERIES, with positional parameters
# (db.fetch_all). It stands in for the session: one statement needs no transaction.
HotRead = Callable[[Mapping[str, str], Sequence[str]], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class CheckedAccess:
    """The caller (None for an unknown or revoked key) and the account's access."""

    caller: Caller | None
    access: Access


def check_access(
    read: HotRead, account_id: str, key: str, *, policy: Policy, now: datetime
) -> CheckedAccess:
    """Return who presented `key` and what the account may do at `now`, from one statement."""
    validate_account_id(account_id)
    rows = read(QUERIES, (account_id, lookup_hash(key) or ""))
    caller = next((Caller(r[1], frozenset(r[2].split())) for r in rows if r[0] == "k"), None)
    facts = facts_from_rows(rows, policy)
    access = resolve(facts.subscriptions, facts.grants, facts.bans, now=now, policy=policy)
    return CheckedAccess(caller, access)


def wait_for_changes(read: HotRead, account_id: str) -> None:
    """Wait until no transaction holds the account's row for a change (tokens only)."""
    validate_account_id(account_id)
    read(WAIT_QUERIES, (account_id,))


def access_json(account_id: str, access: Access) -> dict[str, Any]:
    """Render resolve()'s answer in the public check API shape."""
    sources = []
    for source in access.sources:
        entry = {
            "feature": source.feature,
            "source": source.source,
            "ends_at": to_rfc3339(source.ends_at),
        }
        # Two grants of the same kind and end read as one source.
        if entry not in sources:
            sources.append(entry)
    restrictions = []
    for restriction in access.restrictions:
        item = {
            "feature": restriction.feature,
            "message": restriction.message,
            "ends_at": to_rfc3339(restriction.ends_at),
        }
        if item not in restrictions:
            restrictions.append(item)
    return {
        "account_id": account_id,
        "features": list(access.features),
        "plan": access.plan,
        "sources": sources,
        "restrictions": restrictions,
        "valid_until": to_rfc3339(access.valid_until),
    }
