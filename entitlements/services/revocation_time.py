"""Revocation time: a revoking change moves not_before again just before its commit.

A token issued while a ban's transaction is still open (after the request's `now`, before the
commit: Stripe calls, lock waits) read the state without the ban. Its `iat` is earlier than
the commit, so a not_before taken from the database clock as the transaction ends refuses it.
Tokens that start reading once the change holds the account (hold_for_change) wait for the
commit (services.check.wait_for_changes) and see the change.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, event, func, literal, select, update
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..models import Account, ChangeEvent

# Session.info keys: the app's clock (create_app), and this transaction's revoked accounts.
CLOCK_INFO = "entitlements.clock"
_LATE = "entitlements.late_not_before"


def hold_for_change(session: Session, account_id: str) -> None:
    """Make token issuance for `account_id` wait until this transaction ends (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        # The key services.check.WAIT_QUERIES waits on: the same function of the same id.
        key = func.hashtextextended(account_id, 0)
        session.execute(select(func.pg_advisory_xact_lock(key)))


def revoke_at_commit(session: Session, account_id: str, change: ChangeEvent) -> None:
    """Move `account_id`'s not_before (and `change`'s copy of it) again just before commit."""
    transaction = session.get_transaction()
    kept = session.info.get(_LATE)
    if kept is None or kept[0] is not transaction:
        kept = session.info[_LATE] = (transaction, {})
    table: dict[str, list[ChangeEvent]] = kept[1]
    changes = table.setdefault(account_id, [])
    if not any(c is change for c in changes):
        changes.append(change)


def _skew(session: Session) -> float:
    """Seconds the app's clock is ahead of the wall clock (0 but for tests' fake clocks)."""
    clock: Callable[[], datetime] = session.info.get(CLOCK_INFO, utcnow)
    if clock is utcnow:
        return 0.0
    return clock().timestamp() - time.time()


def _now_second(session: Session, skew: float) -> ColumnElement[Any]:
    """The first whole second after now, read as late as possible: the database's clock on
    PostgreSQL (the commit's own clock), this process's on SQLite (which serialises writers)."""
    if session.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", func.clock_timestamp()) + literal(skew)
        return cast(func.ceil(seconds), BigInteger)
    return literal(math.ceil(time.time() + skew), BigInteger)


@event.listens_for(Session, "before_commit")
def _late_not_before(session: Session) -> None:
    kept = session.info.pop(_LATE, None)
    if kept is None or kept[0] is not session.get_transaction():
        return
    # The change itself first: the UPDATE below is the transaction's last word on not_before.
    session.flush()
    skew = _skew(session)
    greatest = (
        func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    )
    for account_id, changes in kept[1].items():
        second = session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(not_before=greatest(
                func.coalesce(Account.not_before, 0), _now_second(session, skew)
            ))
            .returning(Account.not_before)
        ).scalar_one()
        for change in changes:
            data = {**change.payload["data"], "not_before": second}
            change.payload = {**change.payload, "data": data}
