"""Used hand-off records: kept while a replay could still be accepted, then pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from entitlements import db
from entitlements.errors import InvalidError
from entitlements.models import UsedHandoff
from entitlements.tokens.handoff import (
    HANDOFF_TTL,
    USED_KEPT_AFTER_EXPIRY,
    create_handoff,
    redeem_handoff,
)
from tests.conftest import SECRET, T0


def sign_in(app: Flask, account_id: str, minutes: float) -> str:
    """Create and redeem a hand-off `minutes` after T0; return its jti."""
    at = T0 + timedelta(minutes=minutes)
    url, _ = create_handoff(
        secret_key=SECRET,
        public_url="http://localhost",
        account_id=account_id,
        next_page="/account",
        email=None,
        now=at,
    )
    token = url.split("token=", 1)[1]
    with app.app_context():
        handoff = redeem_handoff(db.session(), token, secret_key=SECRET, now=at)
        db.session().commit()
    return handoff.jti


def kept(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session().scalars(select(UsedHandoff.account_id)))


def test_records_are_pruned_an_hour_after_their_link_expired(app: Flask) -> None:
    sign_in(app, "early", 0)
    margin = (HANDOFF_TTL + USED_KEPT_AFTER_EXPIRY).total_seconds() / 60
    sign_in(app, "inside-margin", margin - 1)
    assert kept(app) == {"early", "inside-margin"}
    sign_in(app, "late", margin + 1)
    assert kept(app) == {"inside-margin", "late"}


def test_a_used_link_is_still_refused_after_others_prune(app: Flask) -> None:
    at = T0
    url, _ = create_handoff(
        secret_key=SECRET,
        public_url="http://localhost",
        account_id="reader",
        next_page="/account",
        email=None,
        now=at,
    )
    token = url.split("token=", 1)[1]
    with app.app_context():
        redeem_handoff(db.session(), token, secret_key=SECRET, now=at)
        db.session().commit()
    sign_in(app, "other", 1)  # prunes, but not the reader's record
    with app.app_context(), pytest.raises(InvalidError, match="already used"):
        redeem_handoff(db.session(), token, secret_key=SECRET, now=at + timedelta(minutes=1))
