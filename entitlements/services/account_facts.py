"""An account's facts: the rows resolve() reads, mapped to its input in one place.

The ORM path (load_facts) and the hot read (services.check) both fetch rows of one shape,
(kind, id, a, b, t1, t2, t3, t4, t5, flag), and facts_from_rows() turns either into the facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import literal, null, select
from sqlalchemy.orm import Session

from ..access import Access, BanFacts, GrantFacts, Policy, SubscriptionFacts, resolve
from ..models import Ban, Grant, Subscription
from .accounts import validate_account_id

# The attribute behind each column of a fact row after (kind, ...); None: always NULL. The hot
# read's SQL (services.check) selects the same columns in the same order.
SUBSCRIPTION_COLUMNS = (
    "id", "status", "lookup_keys", "current_period_start", "current_period_end", "cancel_at",
    "ended_at", "access_revoked_at", "cancel_at_period_end",
)
GRANT_COLUMNS = (
    "id", "feature", "kind", "starts_at", "ends_at", "revoked_at", None, None, "ends_by_policy",
)
# The public message only: the admins' note (bans.reason) is never read for resolve().
BAN_COLUMNS = (
    "id", "feature", "public_message", "starts_at", "ends_at", "lifted_at", None, None, None,
)
FactRow = Sequence[Any]


@dataclass(frozen=True)
class Facts:
    """Everything resolve() reads about one account."""

    subscriptions: tuple[SubscriptionFacts, ...]
    grants: tuple[GrantFacts, ...]
    bans: tuple[BanFacts, ...]


def _utc(value: Any) -> datetime | None:
    """Return a stored timestamp as aware UTC (SQLite's raw rows hold naive UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _at(value: Any) -> datetime:
    moment = _utc(value)
    assert moment is not None, "a NOT NULL timestamp came back NULL"
    return moment


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


def subscription_from_row(row: FactRow) -> SubscriptionFacts:
    """Convert a subscription's fact row into resolve() input."""
    _, ident, status, keys, t1, t2, t3, t4, t5, flag = row
    return SubscriptionFacts(
        id=ident,
        status=status,
        lookup_keys=tuple(k for k in (keys or "").split(",") if k),
        current_period_start=_utc(t1),
        current_period_end=_utc(t2),
        cancel_at_period_end=bool(flag),
        cancel_at=_utc(t3),
        ended_at=_utc(t4),
        access_revoked_at=_utc(t5),
    )


def grant_from_row(row: FactRow, policy: Policy) -> GrantFacts:
    """Convert a grant's fact row into resolve() input; a policy grant ends when the policy says."""
    _, ident, feature, kind, t1, t2, t3, _, _, flag = row
    # Read at every check: moving ENTITLEMENTS_GRANDFATHER_UNTIL moves every such grant.
    ends_at = policy.grant_end(_utc(t2), bool(flag))
    return GrantFacts(int(ident), feature, kind, _at(t1), ends_at, _utc(t3))


def ban_from_row(row: FactRow) -> BanFacts:
    """Convert a ban's fact row into resolve() input, carrying the public message only."""
    _, ident, feature, message, t1, t2, t3, _, _, _ = row
    ends_at = _utc(t2)
    text = public_ban_message(feature, ends_at, message)
    return BanFacts(int(ident), feature, text, _at(t1), ends_at, _utc(t3))


def facts_from_rows(rows: Iterable[FactRow], policy: Policy) -> Facts:
    """Turn fact rows into the facts; rows of other kinds (the hot read's key) are skipped."""
    subs, grants, bans = [], [], []
    for row in rows:
        kind = row[0]
        if kind == "s":
            subs.append(subscription_from_row(row))
        elif kind == "g":
            grants.append(grant_from_row(row, policy))
        elif kind == "b":
            bans.append(ban_from_row(row))
    return Facts(tuple(subs), tuple(grants), tuple(bans))


def _row(kind: str, obj: object, columns: tuple[str | None, ...]) -> tuple[Any, ...]:
    return (kind, *(getattr(obj, c) if c else None for c in columns))


def subscription_facts(sub: Subscription) -> SubscriptionFacts:
    """Convert a subscription row into resolve() input."""
    return subscription_from_row(_row("s", sub, SUBSCRIPTION_COLUMNS))


def grant_facts(grant: Grant, policy: Policy) -> GrantFacts:
    """Convert a grant row into resolve() input; a policy grant ends when the policy says."""
    return grant_from_row(_row("g", grant, GRANT_COLUMNS), policy)


def ban_facts(ban: Ban) -> BanFacts:
    """Convert a ban row into resolve() input, carrying the public message only."""
    return ban_from_row(_row("b", ban, BAN_COLUMNS))


def _select(kind: str, model: type[Subscription | Grant | Ban], columns: tuple[str | None, ...],
            account_id: str) -> Any:
    fields = [getattr(model, c) if c else null() for c in columns]
    return select(literal(kind), *fields).where(model.account_id == account_id)


def load_facts(session: Session, account_id: str, policy: Policy) -> Facts:
    """Read the subscriptions, grants and bans of one account."""
    rows: list[FactRow] = []
    for kind, model, columns in (
        ("s", Subscription, SUBSCRIPTION_COLUMNS),
        ("g", Grant, GRANT_COLUMNS),
        ("b", Ban, BAN_COLUMNS),
    ):
        rows.extend(session.execute(_select(kind, model, columns, account_id)))
    return facts_from_rows(rows, policy)


def access_for(session: Session, account_id: str, *, now: datetime, policy: Policy) -> Access:
    """Return what resolve() says of one account at `now`."""
    validate_account_id(account_id)
    facts = load_facts(session, account_id, policy)
    return resolve(facts.subscriptions, facts.grants, facts.bans, now=now, policy=policy)


def load_facts_many(
    session: Session, account_ids: Sequence[str], policy: Policy
) -> dict[str, Facts]:
    """Read the facts of many accounts at once (a bulk change's events), by account id."""
    rows: dict[str, list[FactRow]] = {account_id: [] for account_id in account_ids}
    for kind, model, columns in (
        ("s", Subscription, SUBSCRIPTION_COLUMNS),
        ("g", Grant, GRANT_COLUMNS),
        ("b", Ban, BAN_COLUMNS),
    ):
        fields = [getattr(model, c) if c else null() for c in columns]
        statement = select(model.account_id, literal(kind), *fields).where(
            model.account_id.in_(account_ids)
        )
        for account_id, *row in session.execute(statement):
            rows[account_id].append(row)
    return {account_id: facts_from_rows(found, policy) for account_id, found in rows.items()}
