"""Start Checkout or the portal for an account: one customer, one live subscription, one session."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..catalog import Catalog
from ..errors import InvalidError, UnavailableError
from ..models import Account, CheckoutAttempt, Subscription
from ..services.audit import Actor
from .stripe_gateway import StripeGateway, StripeNotFoundError, StripeRejectedError
from .sync import link_customer, lock_account

# A subscription in any of these states is the reader's one subscription: manage it, don't
# buy a second. `incomplete` ones expire by themselves and may be retried.
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "paused")
# Reuse an open Checkout Session unless it expires within this margin.
REUSE_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Redirect:
    """Where to send the reader: Stripe Checkout or the customer portal."""

    kind: str  # checkout | portal
    url: str


def live_subscription(session: Session, account_id: str) -> Subscription | None:
    """Return the account's live subscription, if any."""
    return session.scalar(
        select(Subscription)
        .where(
            Subscription.account_id == account_id,
            Subscription.status.in_(LIVE_STATUSES),
            Subscription.ended_at.is_(None),
            # Access ended by a refund or dispute: the reader may buy again.
            Subscription.access_revoked_at.is_(None),
        )
        .order_by(Subscription.created_at.desc())
        .limit(1)
    )


def ensure_customer(
    session: Session,
    gateway: StripeGateway,
    account: Account,
    *,
    email: str | None,
    actor: Actor,
    now: datetime,
) -> str:
    """Return the account's Stripe customer, creating it once (idempotent per account)."""
    if account.stripe_customer_id is None:
        customer = gateway.create_customer(account.id, email=email)
        link_customer(session, account, str(customer["id"]), actor=actor, now=now)
    assert account.stripe_customer_id is not None
    return account.stripe_customer_id


def open_portal(
    session: Session, gateway: StripeGateway, account_id: str, *, return_url: str, now: datetime
) -> Redirect:
    """Return a customer portal session URL for the account."""
    account = session.get(Account, account_id)
    if account is None or account.stripe_customer_id is None:
        raise InvalidError("there is no billing account yet; subscribe first")
    portal = gateway.create_portal_session(
        customer_id=account.stripe_customer_id,
        return_url=return_url,
        attempt=now.isoformat(timespec="seconds"),
    )
    return Redirect("portal", str(portal["url"]))


def is_still_open(gateway: StripeGateway, checkout_id: str) -> bool:
    """Return whether Stripe still holds a Checkout Session open for payment."""
    # A paid or abandoned one would show "payment complete" or an expired page to a reader
    # who wants to buy again; one Stripe forgot (test data deleted) cannot be paid at all.
    try:
        return gateway.retrieve_checkout_session(checkout_id).get("status") == "open"
    except StripeNotFoundError:
        return False


def start_checkout(
    session: Session,
    gateway: StripeGateway,
    account_id: str,
    lookup_key: str,
    *,
    catalog: Catalog,
    email: str | None,
    success_url: str,
    cancel_url: str,
    portal_return_url: str,
    now: datetime,
    actor: Actor,
) -> Redirect:
    """Send the reader to Checkout for a catalog price, or to the portal if already subscribed."""
    if catalog.plan_for_lookup_key(lookup_key) is None:
        raise InvalidError(
            f"price must be one of {', '.join(catalog.lookup_keys)}", field="lookup_key"
        )
    # The lock serialises two quick clicks: the second finds the first one's session.
    account = lock_account(session, account_id, now=now)
    if live_subscription(session, account_id) is not None:
        return open_portal(session, gateway, account_id, return_url=portal_return_url, now=now)
    reusable = session.scalar(
        select(CheckoutAttempt)
        .where(
            CheckoutAttempt.account_id == account_id,
            CheckoutAttempt.lookup_key == lookup_key,
            CheckoutAttempt.expires_at > now + REUSE_MARGIN,
        )
        .order_by(CheckoutAttempt.created_at.desc())
        .limit(1)
    )
    if reusable is not None and is_still_open(gateway, reusable.id):
        return Redirect("checkout", reusable.url)
    price = gateway.find_price(lookup_key)
    if price is None:
        raise UnavailableError(f"Stripe has no active price with lookup key {lookup_key!r}")
    customer_id = ensure_customer(session, gateway, account, email=email, actor=actor, now=now)
    attempts = session.scalar(
        select(func.count())
        .select_from(CheckoutAttempt)
        .where(CheckoutAttempt.account_id == account_id)
    )
    try:
        checkout = gateway.create_checkout_session(
            account_id=account_id,
            customer_id=customer_id,
            price_id=str(price["id"]),
            success_url=success_url,
            cancel_url=cancel_url,
            attempt=str(attempts),
        )
    except StripeRejectedError as exc:
        raise InvalidError(f"Stripe refused the checkout: {exc}") from exc
    expire_other_sessions(session, gateway, account_id, keep=str(checkout["id"]), now=now)
    expires = checkout.get("expires_at")
    session.add(
        CheckoutAttempt(
            id=str(checkout["id"]),
            account_id=account_id,
            lookup_key=lookup_key,
            url=str(checkout["url"]),
            created_at=now,
            expires_at=datetime.fromtimestamp(int(expires), UTC)
            if expires
            else now + timedelta(hours=24),
        )
    )
    return Redirect("checkout", str(checkout["url"]))


def expire_other_sessions(
    session: Session, gateway: StripeGateway, account_id: str, *, keep: str, now: datetime
) -> None:
    """Expire the account's other open Checkout Sessions: one tab pays, not two."""
    others = session.scalars(
        select(CheckoutAttempt).where(
            CheckoutAttempt.account_id == account_id,
            CheckoutAttempt.id != keep,
            CheckoutAttempt.expires_at > now,
        )
    )
    for attempt in others:
        # Stripe may have forgotten it: then nobody can pay it either.
        with suppress(StripeNotFoundError):
            gateway.expire_checkout_session(attempt.id)
        # Never offered for reuse again: Stripe no longer accepts a payment on it.
        attempt.expires_at = now
