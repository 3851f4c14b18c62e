"""The features an account held before this transaction changed its facts.

A change event revokes (moves not_before) when a feature is lost. What was held before is read
as the first flush that writes the account's subscriptions, grants or bans begins: the state
the transaction started from, whether or not the account has had an event before (accounts
older than change events have none).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from ..access import Policy, resolve
from ..clock import utcnow
from ..models import Ban, Grant, Subscription
from .account_facts import load_facts_many
from .revocation_time import CLOCK_INFO

# The key under which create_app's session factory carries the policy (db sessions' info):
# every service that changes access reaches the event through here, without each of their
# callers (API, console, CLI, billing, demo) passing the policy along.
POLICY_INFO = "entitlements.policy"
_BEFORE = "entitlements.features_before"
_FACTS = (Ban, Grant, Subscription)


def _table(session: Session) -> dict[str, frozenset[str]]:
    transaction = session.get_transaction()
    kept = session.info.get(_BEFORE)
    if kept is None or kept[0] is not transaction:
        kept = session.info[_BEFORE] = (transaction, {})
    table: dict[str, frozenset[str]] = kept[1]
    return table


def features_before(session: Session, account_id: str) -> frozenset[str] | None:
    """Return the features `account_id` held before this transaction wrote its facts, or None
    when it wrote none (through the ORM) so far."""
    return _table(session).get(account_id)


@event.listens_for(Session, "before_flush")
def _remember_features(session: Session, _context: Any, _instances: Any) -> None:
    policy = session.info.get(POLICY_INFO)
    if not isinstance(policy, Policy):
        return
    touched = {
        row.account_id
        for row in chain(session.new, session.dirty, session.deleted)
        if isinstance(row, _FACTS) and row.account_id is not None
    }
    table = _table(session)
    missing = sorted(touched - table.keys())
    if not missing:
        return
    clock: Callable[[], datetime] = session.info.get(CLOCK_INFO, utcnow)
    now = clock()
    # No autoflush: this runs inside the flush, and must read the rows before it writes them.
    with session.no_autoflush:
        facts = load_facts_many(session, missing, policy)
    for account_id in missing:
        one = facts[account_id]
        access = resolve(one.subscriptions, one.grants, one.bans, now=now, policy=policy)
        table[account_id] = frozenset(access.features)
