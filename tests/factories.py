"""Factories that put rows in the database the way the services would."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from entitlements import db
from entitlements.models import Subscription
from entitlements.services.accounts import ensure_account
from entitlements.services.audit import Actor
from entitlements.services.bans import add_ban
from entitlements.services.grants import add_grant

ACTOR = Actor("test")


def add_subscription(
    app: Flask,
    account_id: str,
    *,
    now: datetime,
    status: str = "active",
    lookup_key: str = "plus_monthly",
    period_days: int = 30,
    **fields: Any,
) -> str:
    """Add a mirrored Stripe subscription for an account; return its id."""
    with app.app_context():
        session = db.session()
        ensure_account(session, account_id, now=now)
        sub_id: str = fields.pop("id", f"sub_{account_id}_{status}")
        session.add(
            Subscription(
                id=sub_id,
                account_id=account_id,
                customer_id=f"cus_{account_id}",
                status=status,
                lookup_keys=lookup_key,
                price_ids=f"price_{lookup_key}",
                current_period_start=fields.pop("current_period_start", now - timedelta(days=1)),
                current_period_end=fields.pop(
                    "current_period_end", now - timedelta(days=1) + timedelta(days=period_days)
                ),
                cancel_at_period_end=fields.pop("cancel_at_period_end", False),
                livemode=False,
                created_at=now,
                synced_at=now,
                **fields,
            )
        )
        session.commit()
    return sub_id


def grant(app: Flask, account_id: str, feature: str, *, now: datetime, **kwargs: Any) -> int:
    """Grant a feature through the service; return the grant id."""
    with app.app_context():
        session = db.session()
        row = add_grant(
            session,
            account_id,
            feature=feature,
            kind=kwargs.pop("kind", "comp"),
            reason=kwargs.pop("reason", "test"),
            actor=ACTOR,
            now=now,
            # A grandfather grant without an end follows the policy only when a test says so.
            end_given=not kwargs.pop("ends_by_policy", False),
            policy_end=kwargs.pop("policy_end", None),
            **kwargs,
        )
        session.commit()
        return row.id


def ban(app: Flask, account_id: str, *, now: datetime, **kwargs: Any) -> int:
    """Ban an account from commenting through the service; return the ban id."""
    with app.app_context():
        session = db.session()
        row = add_ban(
            session,
            account_id,
            feature="comment",
            reason=kwargs.pop("reason", "abuse"),
            actor=ACTOR,
            now=now,
            **kwargs,
        )
        session.commit()
        return row.id
