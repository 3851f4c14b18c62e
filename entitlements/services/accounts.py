"""Accounts: their ids, their first mention and the search."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..errors import InvalidError
from ..models import Account, Subscription
from ..models.base import dialect_insert

ACCOUNT_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")


def validate_account_id(account_id: str) -> str:
    """Return the id if it is 1-64 characters of A-Za-z0-9_.:@-, else raise InvalidError."""
    if not ACCOUNT_ID.fullmatch(account_id):
        raise InvalidError(
            "account id must be 1-64 characters of A-Z, a-z, 0-9 and _ . : @ -",
            field="account_id",
        )
    return account_id


def ensure_account(session: Session, account_id: str, *, now: datetime) -> Account:
    """Return the account, creating it on first mention."""
    validate_account_id(account_id)
    account = session.get(Account, account_id)
    if account is None:
        # Two first mentions at once (two grants for a new reader): one inserts, the other
        # waits for it and finds the row, instead of failing on the primary key.
        session.execute(
            dialect_insert(session, Account)
            .values(id=account_id, token_version=0, created_at=now)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        account = session.get(Account, account_id)
        assert account is not None
    return account


def search_accounts(
    session: Session, query: str, *, limit: int, after: str | None = None
) -> tuple[list[Account], str | None]:
    """Find accounts whose id contains `query` or whose Stripe customer id starts with it.

    Ordered by id; returns one page and the cursor of the next (None on the last page).
    """
    statement = select(Account).order_by(Account.id).limit(limit + 1)
    if query:
        customers = select(Subscription.account_id).where(
            Subscription.customer_id.startswith(query, autoescape=True)
        )
        statement = statement.where(
            or_(
                Account.id.contains(query, autoescape=True),
                Account.stripe_customer_id.startswith(query, autoescape=True),
                Account.id.in_(customers),
            )
        )
    if after is not None:
        statement = statement.where(Account.id > validate_account_id(after))
    rows = list(session.scalars(statement))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None
