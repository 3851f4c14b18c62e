"""The one path by which Stripe's subscription state reaches our mirror, under a row lock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import to_rfc3339
from ..models import Account, Subscription
from ..models.base import dialect_insert
from ..services.accounts import ACCOUNT_ID
from ..services.audit import Actor, record
from ..services.change_events import CHANGED, SCHEDULED, record_change
from .stripe_gateway import StripeGateway

_TRACKED = (
    "status",
    "lookup_keys",
    "price_ids",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "cancel_at",
    "trial_end",
    "canceled_at",
    "ended_at",
    "access_revoked_at",
    "access_revoked_reason",
)


# Statuses that bill the reader: two of these on one account are one too many.
PAYING_STATUSES = ("active", "trialing", "past_due")
# Of those, the ones whose current period is paid for (or in its free trial).
GOOD_STATUSES = ("active", "trialing")
ENDED_STATUSES = ("canceled", "incomplete_expired")


class CannotPlaceError(Exception):
    """A Stripe object names a customer we cannot tie to an account yet; retry later."""


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def lock_account(session: Session, account_id: str, *, now: datetime) -> Account:
    """Create the account if needed and lock its row for the rest of the transaction."""
    values = {"id": account_id, "token_version": 0, "created_at": now}
    # A write first: on SQLite it takes the database write lock before any read, which
    # serialises concurrent syncs there as FOR UPDATE does on PostgreSQL.
    session.execute(
        dialect_insert(session, Account)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    account = session.scalar(
        select(Account)
        .where(Account.id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert account is not None
    return account


def link_customer(
    session: Session, account: Account, customer_id: str, *, actor: Actor, now: datetime
) -> None:
    """Tie an account to its Stripe customer (one per account), audited."""
    account.stripe_customer_id = customer_id
    record(
        session,
        actor,
        action="account.link_customer",
        subject_type="account",
        subject_id=account.id,
        account_id=account.id,
        now=now,
        before={"stripe_customer_id": None},
        after={"stripe_customer_id": customer_id},
    )


def account_for_customer(
    session: Session, gateway: StripeGateway, customer_id: str, *, hint: str | None = None
) -> str | None:
    """Return the account a Stripe customer belongs to: our link, a hint, or its metadata."""
    linked = session.scalar(select(Account.id).where(Account.stripe_customer_id == customer_id))
    if linked is not None:
        return linked
    if hint:
        return hint
    customer = gateway.retrieve_customer(customer_id)
    account_id = (customer.get("metadata") or {}).get("account_id")
    return str(account_id) if account_id else None


def subscription_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Map a Stripe subscription (API 2026-10-28) onto our mirror's columns."""
    items = (obj.get("items") or {}).get("data") or []
    lookup_keys, price_ids, starts, ends = [], [], [], []
    for item in items:
        price = item.get("price") or {}
        if isinstance(price, dict):
            price_ids.append(str(price.get("id", "")))
            if price.get("lookup_key"):
                lookup_keys.append(str(price["lookup_key"]))
        # Current API versions keep the billing period on each item, not the subscription.
        if item.get("current_period_end"):
            ends.append(int(item["current_period_end"]))
            starts.append(int(item.get("current_period_start") or 0))
    if not ends and obj.get("current_period_end"):
        ends.append(int(obj["current_period_end"]))
        starts.append(int(obj.get("current_period_start") or 0))
    return {
        "customer_id": str(obj["customer"]),
        "status": str(obj["status"]),
        "lookup_keys": ",".join(sorted(lookup_keys)),
        "price_ids": ",".join(sorted(price_ids)),
        "current_period_start": _ts(max(starts)) if starts else None,
        "current_period_end": _ts(max(ends)) if ends else None,
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")),
        "cancel_at": _ts(obj.get("cancel_at")),
        "trial_end": _ts(obj.get("trial_end")),
        "canceled_at": _ts(obj.get("canceled_at")),
        "ended_at": _ts(obj.get("ended_at")),
        "livemode": bool(obj.get("livemode")),
    }


def snapshot(sub: Subscription | None) -> dict[str, Any] | None:
    """Return the audited fields of a subscription row."""
    if sub is None:
        return None
    out: dict[str, Any] = {}
    for name in _TRACKED:
        value = getattr(sub, name)
        out[name] = to_rfc3339(value) if isinstance(value, datetime) else value
    return out


def apply_subscription(
    session: Session,
    account: Account,
    obj: dict[str, Any],
    *,
    now: datetime,
    actor: Actor,
    action: str = "subscription.sync",
    reason: str | None = None,
) -> Subscription:
    """Write Stripe's current subscription onto our mirror; audit what changed."""
    fields = subscription_fields(obj)
    sub = session.get(Subscription, obj["id"])
    before = snapshot(sub)
    if sub is None:
        sub = Subscription(
            id=str(obj["id"]),
            account_id=account.id,
            created_at=_ts(obj.get("created")) or now,
            synced_at=now,
            **fields,
        )
        session.add(sub)
    else:
        for name, value in fields.items():
            setattr(sub, name, value)
        sub.synced_at = now
    if (
        sub.access_revoked_at is not None
        and sub.status == "active"
        and sub.current_period_start is not None
        and sub.current_period_start > sub.access_revoked_at
    ):
        # A refund or dispute ends the paid-for period, not the reader: a period that began
        # after it and that Stripe reports active was paid again.
        sub.access_revoked_at, sub.access_revoked_reason = None, None
    after = snapshot(sub)
    if before != after:
        if before is not None and _loses_access(before, after):
            # Withdrawn access makes earlier answers stale at once.
            account.token_version += 1
        record(
            session,
            actor,
            action=action,
            subject_type="subscription",
            subject_id=sub.id,
            account_id=account.id,
            now=now,
            before=before,
            after=after,
            reason=reason,
        )
        record_change(
            session, account.id, reason=_change_reason(action, before, after), now=now,
            revoke=_ends_paid_access(before, after), event_type=_event_type(before, after),
        )
    return sub


# What Stripe changes when a cancellation at period end is set or unset, and nothing else.
_SCHEDULING = frozenset({"cancel_at_period_end", "cancel_at", "canceled_at"})


def _event_type(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """A cancellation at period end set or unset, alone, is a scheduled change: access stays
    until the period ends (and the token's valid_until covers that end)."""
    if before is None or after is None or before["cancel_at_period_end"] == after[
        "cancel_at_period_end"
    ]:
        return CHANGED
    moved = {name for name in after if before.get(name) != after[name]}
    return SCHEDULED if moved <= _SCHEDULING else CHANGED


def _change_reason(
    action: str, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> str:
    """Name a subscription change for its event: a scheduled cancellation says so."""
    if before is None or after is None:
        return action
    if before["cancel_at_period_end"] != after["cancel_at_period_end"]:
        return f"{action}: cancel_at_period_end " + (
            "set" if after["cancel_at_period_end"] else "unset"
        )
    return action


def _ends_paid_access(before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
    # A subscription leaving good standing (canceled, unpaid, past_due) withdraws access.
    return (
        before is not None
        and after is not None
        and before["status"] in GOOD_STATUSES
        and after["status"] not in GOOD_STATUSES
    )


def cancel_at_stripe(
    session: Session,
    gateway: StripeGateway,
    account: Account,
    sub: Subscription,
    *,
    reason: str,
    now: datetime,
    actor: Actor,
) -> Subscription:
    """Cancel a subscription at Stripe at once (idempotent) and mirror it, audited."""
    if sub.status in ENDED_STATUSES:
        return sub
    canceled = gateway.cancel_subscription(sub.id)
    return apply_subscription(
        session,
        account,
        canceled,
        now=now,
        actor=actor,
        action="subscription.cancel",
        reason=reason,
    )


def _still_paying(sub: Subscription) -> bool:
    return sub.status in PAYING_STATUSES and sub.access_revoked_at is None and sub.ended_at is None


def _keep_order(sub: Subscription) -> tuple[int, bool, datetime, str]:
    # A subscription that pays comes before one whose card failed, one that renews before one
    # the reader set to end (keeping that one would leave them with nothing); then the oldest.
    ends = sub.cancel_at_period_end or sub.cancel_at is not None
    return (0 if sub.status in GOOD_STATUSES else 1, ends, sub.created_at, sub.id)


def settle_duplicates(
    session: Session, gateway: StripeGateway, account: Account, *, now: datetime, actor: Actor
) -> list[Subscription]:
    """Keep the account's best paying subscription; cancel the others, refunding paid ones.

    Two tabs can each pay a Checkout Session within seconds. The one kept is the best
    (active or trialing before past_due), then the oldest (Stripe's creation time, then
    id), so every delivery order reaches the same answer. Callers hold the account's row
    lock; only webhook handlers and reconciliation call this (never a page: a GET must
    not make these Stripe calls). Return the subscriptions canceled.
    """
    candidates = list(
        session.scalars(
            select(Subscription).where(
                Subscription.account_id == account.id,
                Subscription.status.in_(PAYING_STATUSES),
                Subscription.access_revoked_at.is_(None),
                Subscription.ended_at.is_(None),
            )
        )
    )
    if len(candidates) < 2:
        return []
    # The mirror may lag (a portal cancel whose webhook is on its way): decide on Stripe's
    # current state, or we could cancel the only subscription the reader still has.
    fetched = {sub.id: gateway.retrieve_subscription(sub.id) for sub in candidates}
    for sub in candidates:
        apply_subscription(session, account, fetched[sub.id], now=now, actor=actor)
    paying = [sub for sub in candidates if _still_paying(sub)]
    if len(paying) < 2:
        return []
    kept, *others = sorted(paying, key=_keep_order)
    for sub in others:
        reason = f"duplicate of subscription {kept.id}"
        if sub.status not in GOOD_STATUSES:
            # past_due: its current period was never paid, so there is nothing to refund,
            # and the periods it did pay were used.
            cancel_at_stripe(session, gateway, account, sub, reason=reason, now=now, actor=actor)
            continue
        invoice = fetched[sub.id].get("latest_invoice")
        invoice_id = invoice.get("id") if isinstance(invoice, dict) else invoice
        # Refund before canceling: a retry after a failure in between still finds the
        # subscription paying, and the refund's idempotency key makes it happen once.
        refunds = gateway.refund_invoice(str(invoice_id)) if invoice_id else []
        cancel_at_stripe(session, gateway, account, sub, reason=reason, now=now, actor=actor)
        record(
            session,
            actor,
            action="subscription.refund",
            subject_type="subscription",
            subject_id=sub.id,
            account_id=account.id,
            now=now,
            after={
                "invoice": invoice_id,
                "refunds": [str(r["id"]) for r in refunds],
                "amount_refunded": sum(int(r.get("amount") or 0) for r in refunds),
            },
            reason=reason,
        )
    return others


def _loses_access(before: dict[str, Any], after: dict[str, Any] | None) -> bool:
    if after is None:
        return True
    return (
        before["status"] != after["status"]
        or (after["cancel_at_period_end"] and not before["cancel_at_period_end"])
        or (after["access_revoked_at"] is not None and before["access_revoked_at"] is None)
    )


def sync_subscription(
    session: Session,
    gateway: StripeGateway,
    subscription_id: str,
    *,
    now: datetime,
    actor: Actor,
    customer_id: str | None = None,
    account_hint: str | None = None,
) -> Subscription:
    """Re-fetch a subscription from Stripe and apply it under the account's row lock."""
    fetched: dict[str, Any] | None = None
    if customer_id is None:
        fetched = gateway.retrieve_subscription(subscription_id)
        customer_id = str(fetched["customer"])
    account_id = account_for_customer(session, gateway, customer_id, hint=account_hint)
    if account_id is None:
        fetched = fetched or gateway.retrieve_subscription(subscription_id)
        meta_account = (fetched.get("metadata") or {}).get("account_id")
        account_id = str(meta_account) if meta_account else None
    if account_id is None:
        raise CannotPlaceError(f"customer {customer_id} is not linked to an account yet")
    if not ACCOUNT_ID.fullmatch(account_id):
        raise CannotPlaceError(f"customer {customer_id} names a malformed account id")
    account = lock_account(session, account_id, now=now)
    if account.stripe_customer_id is None:
        link_customer(session, account, customer_id, actor=actor, now=now)
    # Fetch again under the lock: whichever sync locks last writes Stripe's latest truth.
    latest = gateway.retrieve_subscription(subscription_id)
    return apply_subscription(session, account, latest, now=now, actor=actor)
