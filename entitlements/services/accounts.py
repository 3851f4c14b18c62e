"""Accounts and the facts resolve() reads about them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..access import Access, BanFacts, GrantFacts, Policy, SubscriptionFacts, resolve
from ..errors import InvalidError
from ..models import Account, Ban, Grant, Subscription
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


@dataclass(frozen=True)
class Facts:
    """Everything resolve() reads about one account."""

    subscriptions: tuple[SubscriptionFacts, ...]
    grants: tuple[GrantFacts, ...]
    bans: tuple[BanFacts, ...]


def subscription_facts(sub: Subscription) -> SubscriptionFacts:
    """Convert a subscription row into resolve() input."""
    return SubscriptionFacts(
        id=sub.id,
        status=sub.status,
        lookup_keys=tuple(k for k in sub.lookup_keys.split(",") if k),
        current_period_start=sub.current_period_start,
        current_period_end=sub.current_period_end,
        cancel_at_period_end=sub.cancel_at_period_end,
        cancel_at=sub.cancel_at,
        ended_at=sub.ended_at,
        access_revoked_at=sub.access_revoked_at,
    )


def grant_facts(grant: Grant, policy: Policy) -> GrantFacts:
    """Convert a grant row into resolve() input; a policy grant ends when the policy says."""
    # Read at every check: moving ENTITLEMENTS_GRANDFATHER_UNTIL moves every such grant.
    ends_at = policy.grant_end(grant.ends_at, grant.ends_by_policy)
    return GrantFacts(grant.id, grant.feature, grant.kind, grant.starts_at, ends_at,
                      grant.revoked_at)


# The reader-facing name of each bannable feature, for the default ban message.
SUSPENDED = {"comment": "Commenting"}


def public_ban_message(feature: str, ends_at: datetime | None, message: str | None) -> str:
    """Return what a reader is told of a ban: its public message, or a neutral sentence."""
    if message:
        return message
    what = SUSPENDED.get(feature, feature.replace("_", " ").capitalize())
    if ends_at is None:
        return f"{what} is suspended."
    # Made at read time from the ban's end, so extending a ban updates the sentence too.
    end = ends_at.strftime("%Y-%m-%d" if ends_at.time() == time(0) else "%Y-%m-%d %H:%M UTC")
    return f"{what} is suspended until {end}."


def ban_facts(ban: Ban) -> BanFacts:
    """Convert a ban row into resolve() input, carrying the public message only."""
    return BanFacts(
        ban.id,
        ban.feature,
        public_ban_message(ban.feature, ban.ends_at, ban.public_message),
        ban.starts_at,
        ban.ends_at,
        ban.lifted_at,
    )


def load_facts(session: Session, account_id: str, policy: Policy) -> Facts:
    """Read the subscriptions, grants and bans of one account."""
    subs = session.scalars(select(Subscription).where(Subscription.account_id == account_id))
    grants = session.scalars(select(Grant).where(Grant.account_id == account_id))
    bans = session.scalars(select(Ban).where(Ban.account_id == account_id))
    return Facts(
        subscriptions=tuple(subscription_facts(s) for s in subs),
        grants=tuple(grant_facts(g, policy) for g in grants),
        bans=tuple(ban_facts(b) for b in bans),
    )


def access_for(session: Session, account_id: str, *, now: datetime, policy: Policy) -> Access:
    """Return what resolve() says of one account at `now`."""
    validate_account_id(account_id)
    facts = load_facts(session, account_id, policy)
    return resolve(facts.subscriptions, facts.grants, facts.bans, now=now, policy=policy)


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
