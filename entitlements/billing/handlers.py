"""One small handler per Stripe event type; each re-fetches and syncs through one path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..models import Account, Subscription
from ..services.audit import Actor, record
from ..services.change_events import record_change
from .stripe_gateway import StripeGateway
from .sync import cancel_at_stripe, settle_duplicates, snapshot, sync_subscription

# The ends of revocation reasons: the account page tells refunds and disputes apart by them.
REFUNDED = "fully refunded"
DISPUTED = "disputed"


@dataclass(frozen=True)
class BillingContext:
    """What handlers need: the gateway, the refund policy, the time and the actor."""

    gateway: StripeGateway
    revoke_on_refund: bool
    revoke_on_dispute: bool
    cancel_on_revoke: bool
    now: datetime
    actor: Actor


Handler = Callable[[Session, dict[str, Any], BillingContext], None]


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value["id"]) if value.get("id") else None
    return str(value) if value else None


def invoice_subscription_id(invoice: dict[str, Any]) -> str | None:
    """Return the subscription an invoice bills, wherever the API version puts it."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def _settle(session: Session, sub: Subscription, ctx: BillingContext) -> None:
    """Settle the account's duplicate subscriptions, under the lock the sync took."""
    account = session.get(Account, sub.account_id)
    assert account is not None  # locked by sync_subscription
    settle_duplicates(session, ctx.gateway, account, now=ctx.now, actor=ctx.actor)


def on_checkout_session(session: Session, obj: dict[str, Any], ctx: BillingContext) -> None:
    """Checkout completed (or its async payment settled): link the customer, sync."""
    checkout = ctx.gateway.retrieve_checkout_session(obj["id"])
    subscription_id = _id(checkout.get("subscription"))
    customer_id = _id(checkout.get("customer"))
    account_hint = checkout.get("client_reference_id")
    if subscription_id and customer_id:
        sub = sync_subscription(
            session,
            ctx.gateway,
            subscription_id,
            now=ctx.now,
            actor=ctx.actor,
            customer_id=customer_id,
            account_hint=account_hint,
        )
        _settle(session, sub, ctx)


def on_subscription(session: Session, obj: dict[str, Any], ctx: BillingContext) -> None:
    """Any subscription change: apply Stripe's current state."""
    sub = sync_subscription(
        session,
        ctx.gateway,
        obj["id"],
        now=ctx.now,
        actor=ctx.actor,
        customer_id=_id(obj.get("customer")),
    )
    _settle(session, sub, ctx)


def on_invoice(session: Session, obj: dict[str, Any], ctx: BillingContext) -> None:
    """Paid, failed or awaiting action: the subscription's status tells the rest."""
    invoice = ctx.gateway.retrieve_invoice(obj["id"])
    subscription_id = invoice_subscription_id(invoice)
    if subscription_id:
        sub = sync_subscription(
            session,
            ctx.gateway,
            subscription_id,
            now=ctx.now,
            actor=ctx.actor,
            customer_id=_id(invoice.get("customer")),
        )
        _settle(session, sub, ctx)


def _revoke_for_charge(
    session: Session, charge: dict[str, Any], ctx: BillingContext, *, reason: str
) -> None:
    invoice_id = ctx.gateway.invoice_for_charge(charge)
    if not invoice_id:
        return  # not a subscription payment
    invoice = ctx.gateway.retrieve_invoice(invoice_id)
    subscription_id = invoice_subscription_id(invoice)
    if not subscription_id:
        return
    sub = sync_subscription(
        session,
        ctx.gateway,
        subscription_id,
        now=ctx.now,
        actor=ctx.actor,
        customer_id=_id(invoice.get("customer")),
    )
    if sub.access_revoked_at is not None:
        _settle(session, sub, ctx)
        return
    before = snapshot(sub)
    sub.access_revoked_at, sub.access_revoked_reason = ctx.now, reason
    record(
        session,
        ctx.actor,
        action="subscription.revoke",
        subject_type="subscription",
        subject_id=sub.id,
        account_id=sub.account_id,
        now=ctx.now,
        before=before,
        after=snapshot(sub),
        reason=reason,
    )
    # Tokens issued before the refund or dispute are refused by the SDKs from the next second.
    record_change(
        session, sub.account_id, reason=f"subscription.revoke: {revocation_kind(reason)}",
        now=ctx.now, revoke=True,
    )
    if ctx.cancel_on_revoke:
        # Access has ended: the reader must not be billed again for it.
        account = session.get(Account, sub.account_id)
        assert account is not None  # locked by sync_subscription above
        cancel_at_stripe(
            session, ctx.gateway, account, sub, reason=reason, now=ctx.now, actor=ctx.actor
        )
    # Settle only now: before the revocation, this refunded subscription could have been
    # kept over the reader's other, good one, which would then be refunded too.
    _settle(session, sub, ctx)


def revocation_kind(reason: str | None) -> str | None:
    """Return "refund" or "dispute" for a revocation reason written here, else None."""
    if reason is None:
        return None
    if reason.endswith(DISPUTED):
        return "dispute"
    if reason.endswith(REFUNDED):
        return "refund"
    return None


def on_charge_refunded(session: Session, obj: dict[str, Any], ctx: BillingContext) -> None:
    """A full refund of a Plus payment ends access at once; a partial one does not."""
    if not ctx.revoke_on_refund:
        return
    charge = ctx.gateway.retrieve_charge(obj["id"])
    amount, refunded = int(charge.get("amount") or 0), int(charge.get("amount_refunded") or 0)
    if charge.get("refunded") or (amount > 0 and refunded >= amount):
        _revoke_for_charge(session, charge, ctx, reason=f"charge {charge['id']} {REFUNDED}")


def on_dispute_created(session: Session, obj: dict[str, Any], ctx: BillingContext) -> None:
    """A disputed Plus payment ends access at once."""
    if not ctx.revoke_on_dispute:
        return
    dispute = ctx.gateway.retrieve_dispute(obj["id"])
    charge_id = _id(dispute.get("charge"))
    if charge_id:
        charge = ctx.gateway.retrieve_charge(charge_id)
        _revoke_for_charge(session, charge, ctx, reason=f"charge {charge_id} {DISPUTED}")


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": on_checkout_session,
    "checkout.session.async_payment_succeeded": on_checkout_session,
    "checkout.session.async_payment_failed": on_checkout_session,
    "customer.subscription.created": on_subscription,
    "customer.subscription.updated": on_subscription,
    "customer.subscription.deleted": on_subscription,
    "customer.subscription.paused": on_subscription,
    "customer.subscription.resumed": on_subscription,
    "invoice.paid": on_invoice,
    "invoice.payment_failed": on_invoice,
    "invoice.payment_action_required": on_invoice,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute_created,
}
