"""Demo data: a few accounts that show every kind of source and restriction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Grant, Subscription
from .services.accounts import ensure_account
from .services.audit import Actor
from .services.bans import add_ban
from .services.grants import add_grant
from .services.service_keys import create_service_key


def load_demo(session: Session, *, now: datetime, actor: Actor) -> tuple[list[str], str]:
    """Add the demo accounts unless present; return a description and a new service key."""
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
            ends_by_policy=False,
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
        )
        account = ensure_account(session, "demo-subscriber", now=now)
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
        )
        lines.append("loaded demo accounts:")
    else:
        lines.append("demo accounts already loaded:")
    lines += [
        "  demo-subscriber     Plus (annual): every feature",
        "  demo-grandfathered  comments as a past commenter for 90 days",
        "  demo-comp           archive, complimentary for a year",
        "  demo-banned         comment withheld for 7 days despite a grant",
    ]
    _, key = create_service_key(
        session,
        name=f"demo-{now:%Y%m%d%H%M%S%f}",
        scopes=["entitlements:read", "tokens:issue", "admin"],
        actor=actor,
        now=now,
    )
    return lines, key
