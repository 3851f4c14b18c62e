"""Reconciliation: walk Stripe's subscriptions and recent undelivered events, repair our mirror."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import StripeEvent, Subscription
from .handlers import BillingContext
from .sync import (
    PAYING_STATUSES,
    account_for_customer,
    lock_account,
    settle_duplicates,
    snapshot,
    subscription_fields,
    sync_subscription,
)
from .webhooks import process

EVENT_WINDOW = timedelta(days=30)


@dataclass
class ReconcileReport:
    """What one reconciliation run saw and changed."""

    subscriptions_seen: int = 0
    changed: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    events_seen: int = 0
    events_applied: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _differs(local: Subscription | None, listed: dict[str, Any]) -> bool:
    if local is None:
        return True
    fields = subscription_fields(listed)
    return any(getattr(local, name) != value for name, value in fields.items())


def reconcile(
    session: Session,
    ctx: BillingContext,
    *,
    progress: Callable[[str], None] = lambda _: None,
) -> ReconcileReport:
    """Repair every subscription that differs from Stripe, then apply missed events.

    Each repair commits on its own and goes through the same locked sync path as webhooks,
    so running beside live deliveries is safe, and a second run changes nothing.
    """
    report = ReconcileReport()
    for listed in ctx.gateway.iter_subscriptions():
        report.subscriptions_seen += 1
        local = session.get(Subscription, listed["id"])
        if _differs(local, listed):
            customer_id = str(listed["customer"])
            if account_for_customer(session, ctx.gateway, customer_id) is None and not (
                (listed.get("metadata") or {}).get("account_id")
            ):
                report.unplaced.append(str(listed["id"]))
                session.rollback()
                continue
            before = snapshot(local)
            # The listing may already be stale: sync re-fetches under the account's lock.
            sub = sync_subscription(
                session,
                ctx.gateway,
                str(listed["id"]),
                now=ctx.now,
                actor=ctx.actor,
                customer_id=customer_id,
            )
            if snapshot(sub) != before:
                report.changed.append(f"{sub.id} ({sub.account_id}): now {sub.status}")
            session.commit()
        else:
            session.rollback()
        if report.subscriptions_seen % 100 == 0:
            progress(f"{report.subscriptions_seen} subscriptions checked")
    progress(f"{report.subscriptions_seen} subscriptions checked")
    _settle_all(session, ctx, report)

    since = int((ctx.now - EVENT_WINDOW).timestamp())
    for event in ctx.gateway.iter_events(created_gte=since, undelivered_only=True):
        report.events_seen += 1
        done = session.scalar(select(StripeEvent.status).where(StripeEvent.id == event["id"]))
        session.rollback()
        if done in {"processed", "ignored"}:
            continue
        outcome = process(session, event, ctx)
        session.commit()  # keeps a malformed event's failure record, like each repair above
        if outcome.status == 200:
            report.events_applied.append(f"{event['id']} {event['type']}")
        else:
            report.errors.append(f"{event['id']} {event['type']}: {outcome.detail}")
    progress(f"{report.events_seen} undelivered events checked")
    return report


def _settle_all(session: Session, ctx: BillingContext, report: ReconcileReport) -> None:
    """Settle every account still paying twice, even when each mirror row matches Stripe.

    Pages sync without settling, so two paid tabs whose webhooks were lost can both be
    mirrored already; this pass is what catches them.
    """
    accounts = list(
        session.scalars(
            select(Subscription.account_id)
            .where(
                Subscription.status.in_(PAYING_STATUSES),
                Subscription.access_revoked_at.is_(None),
                Subscription.ended_at.is_(None),
            )
            .group_by(Subscription.account_id)
            .having(func.count() > 1)
        )
    )
    session.rollback()
    for account_id in accounts:
        account = lock_account(session, account_id, now=ctx.now)
        canceled = settle_duplicates(session, ctx.gateway, account, now=ctx.now, actor=ctx.actor)
        report.changed.extend(
            f"{sub.id} ({account_id}): now {sub.status}, a duplicate" for sub in canceled
        )
        session.commit()
