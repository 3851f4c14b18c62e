"""Demo data: a few accounts that show every kind of source and restriction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .billing.stripe_gateway import StripeGateway
from .billing.sync import link_customer, lock_account, sync_subscription
from .errors import ConflictError, UnavailableError
from .models import Grant, ServiceKey, Subscription, WebhookEndpoint
from .services.accounts import ensure_account
from .services.audit import Actor
from .services.bans import add_ban
from .services.grants import add_grant
from .services.service_keys import authenticate, create_service_key
from .services.webhook_endpoints import add_endpoint, decrypt_secret, disable_endpoint
from .vocabulary import SCOPES

DEMO_KEY_NAME = "demo"
# The demo magazine's receiver of change events (examples/magazine/events.py), under its URL.
MAGAZINE_EVENTS_PATH = "/entitlements-events"
SUBSCRIBER = "demo-subscriber"


def load_demo(
    session: Session,
    *,
    now: datetime,
    actor: Actor,
    gateway: StripeGateway | None = None,
    key: str | None = None,
) -> tuple[list[str], str]:
    """Add the demo accounts unless present; return a description and the demo service key.

    With a (test-mode) gateway, demo-subscriber's subscription is a real Stripe one, so its
    "Manage billing" opens the portal; without, it is a local row only. `key` is the key an
    earlier run printed: it is returned again while it still works with every scope.
    """
    lines = []
    if session.scalar(select(Grant.id).where(Grant.account_id == "demo-grandfathered")) is None:
        add_grant(
            session,
            "demo-grandfathered",
            feature="comment",
            kind="grandfather",
            reason="commented before the cutoff",
            actor=actor,
            now=now,
            starts_at=now - timedelta(days=30),
            ends_at=now + timedelta(days=90),
            policy_end=None,  # its own end
        )
        add_grant(
            session,
            "demo-comp",
            feature="archive",
            kind="comp",
            reason="press pass",
            actor=actor,
            now=now,
            ends_at=now + timedelta(days=365),
            policy_end=None,
        )
        account = ensure_account(session, SUBSCRIBER, now=now)
        if gateway is None:
            session.add(
                Subscription(
                    id="sub_demo_plus",
                    account_id=account.id,
                    customer_id="cus_demo",
                    status="active",
                    lookup_keys="plus_annual",
                    price_ids="price_demo_annual",
                    current_period_start=now - timedelta(days=10),
                    current_period_end=now + timedelta(days=355),
                    cancel_at_period_end=False,
                    livemode=False,
                    created_at=now - timedelta(days=10),
                    synced_at=now,
                )
            )
        add_ban(
            session,
            "demo-banned",
            feature="comment",
            reason="repeated personal attacks",
            actor=actor,
            now=now,
            ends_at=now + timedelta(days=7),
        )
        add_grant(
            session,
            "demo-banned",
            feature="comment",
            kind="comp",
            reason="contributor",
            actor=actor,
            now=now,
            policy_end=None,
        )
        lines.append("loaded demo accounts:")
    else:
        lines.append("demo accounts already loaded:")
    if gateway is not None:
        subscribe_with_test_card(session, gateway, SUBSCRIBER, now=now, actor=actor)
    lines += [
        "  demo-reader         no plan yet: sign in at /demo and subscribe",
        "  demo-subscriber     Plus (annual): every feature",
        "  demo-grandfathered  comments as a past commenter for 90 days",
        "  demo-comp           archive, complimentary for a year",
        "  demo-banned         comment withheld for 7 days despite a grant",
    ]
    return lines, demo_service_key(session, key, now=now, actor=actor)


def subscribe_with_test_card(
    session: Session, gateway: StripeGateway, account_id: str, *, now: datetime, actor: Actor
) -> None:
    """Give an account a Stripe customer and a paid annual Plus subscription, once."""
    account = lock_account(session, account_id, now=now)
    if account.stripe_customer_id is not None:
        return
    price = gateway.find_price("plus_annual")
    if price is None:
        raise UnavailableError("Stripe has no active price with lookup key 'plus_annual'")
    customer_id = str(gateway.create_customer(account_id, email=f"{account_id}@example.com")["id"])
    link_customer(session, account, customer_id, actor=actor, now=now)
    subscription = gateway.create_test_subscription(
        account_id=account_id, customer_id=customer_id, price_id=str(price["id"])
    )
    sync_subscription(
        session, gateway, str(subscription["id"]), now=now, actor=actor, customer_id=customer_id
    )


def demo_service_key(session: Session, key: str | None, *, now: datetime, actor: Actor) -> str:
    """Return `key` while it works with every scope, else a new all-scope demo key."""
    caller = authenticate(session, key) if key else None
    if key and caller is not None and caller.scopes == frozenset(SCOPES):
        return key
    taken = session.scalar(select(ServiceKey.id).where(ServiceKey.name == DEMO_KEY_NAME))
    # A "demo" key whose plaintext was lost (its file deleted) keeps its name; the new one
    # is told apart by its creation time.
    name = DEMO_KEY_NAME if taken is None else f"{DEMO_KEY_NAME}-{now:%Y%m%d%H%M%S%f}"
    _, plaintext = create_service_key(session, name=name, scopes=list(SCOPES), actor=actor, now=now)
    return plaintext


def demo_event_endpoint(
    session: Session, url: str, kept: str | None, *, secret_key: str, now: datetime, actor: Actor
) -> str:
    """Return the whsec_ secret of the active endpoint at `url`, registering one unless `kept`
    (an earlier run's secret) still signs there.

    Other active endpoints at `url` are disabled: the receiver knows one secret only, so their
    deliveries could never be verified and would be retried for days.
    """
    reused = False
    at_url = select(WebhookEndpoint).where(
        WebhookEndpoint.url == url, WebhookEndpoint.status == "active"
    )
    for endpoint in session.scalars(at_url.order_by(WebhookEndpoint.id)).all():
        try:
            current = decrypt_secret(endpoint.secret_encrypted, secret_key, endpoint.id)
        except ConflictError:  # made under another ENTITLEMENTS_SECRET_KEY
            current = None
        if not reused and kept is not None and current == kept:
            reused = True
        else:
            disable_endpoint(session, endpoint.id, actor=actor, now=now)
    if reused and kept is not None:
        return kept
    _, secret = add_endpoint(
        session, url, event_types=(), secret_key=secret_key, actor=actor, now=now,
        # The demo magazine listens on this machine.
        production=False, allow_private=True,
        description="the demo magazine (entitlements demo run)",
    )
    return secret
