"""Revocations: accounts whose not_before moved, for services that poll instead of events."""

from __future__ import annotations

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ..models import Account


def list_revocations(
    session: Session, *, since: int, limit: int, after: tuple[int, str] | None = None
) -> tuple[list[tuple[str, int]], tuple[int, str] | None]:
    """Return (account id, not_before) with not_before > since, oldest first, and the cursor
    of the next page: the last (not_before, account id) given, or None on the last page."""
    statement = (
        select(Account.id, Account.not_before)
        .where(Account.not_before.is_not(None), Account.not_before > since)
        .order_by(Account.not_before, Account.id)
        .limit(limit + 1)
    )
    if after is not None:
        statement = statement.where(tuple_(Account.not_before, Account.id) > tuple_(*after))
    rows = [(str(account), int(second or 0)) for account, second in session.execute(statement)]
    if len(rows) > limit:
        last_id, last_second = rows[limit - 1]
        return rows[:limit], (last_second, last_id)
    return rows, None
