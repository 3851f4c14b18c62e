"""Revocation timing: not_before is taken as the change commits, and what it is measured from.

A token issued while a ban's transaction is open must not carry the banned feature past the
ban: on PostgreSQL issuance waits for the ban and sees it; on either engine a token that read
the state before the ban has an iat before the ban's not_before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import jwt
from flask import Flask
from sqlalchemy import select

from entitlements import db
from entitlements.models import Account, ChangeEvent, Subscription
from entitlements.services.audit import Actor
from entitlements.services.bans import add_ban
from entitlements.services.change_events import record_change
from tests.conftest import T0, FakeClock, Keys
from tests.factories import add_subscription, grant

ACTOR = Actor("test")


def _claims(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_a_token_issued_while_a_ban_commits_never_keeps_the_feature(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    clock = FakeClock(T0 + timedelta(microseconds=100))
    app = make_app(CLOCK=clock)
    header = Keys(app).header("tokens:issue")
    grant(app, "reader-1", "comment", now=T0)
    client = app.test_client()
    assert client.post("/v1/accounts/reader-1/tokens", headers=header, json={}).status_code == 201
    answers: list[dict[str, object]] = []
    with app.app_context():
        session = db.session()
        # The ban's `now`, then slow work before the commit (Stripe calls, lock waits).
        add_ban(session, "reader-1", feature="comment", reason="abuse", actor=ACTOR, now=clock())
        session.flush()
        clock.now = T0 + timedelta(seconds=1, milliseconds=500)

        def issue() -> None:
            with app.app_context():
                answer = app.test_client().post(
                    "/v1/accounts/reader-1/tokens", headers=header, json={}
                )
                answers.append(answer.get_json())

        issuer = threading.Thread(target=issue)
        issuer.start()
        issuer.join(0.5)  # on PostgreSQL it waits for the ban's row lock
        clock.now = T0 + timedelta(seconds=2, milliseconds=100)
        session.commit()
        issuer.join(10)
        assert not issuer.is_alive()
        not_before = session.get(Account, "reader-1").not_before  # type: ignore[union-attr]
        event = session.scalars(select(ChangeEvent).order_by(ChangeEvent.id.desc())).first()
        assert event is not None
        assert event.payload["data"]["not_before"] == not_before
    claims = _claims(str(answers[0]["token"]))
    assert not_before is not None
    assert "comment" not in claims["features"] or int(str(claims["iat"])) < not_before  # type: ignore[operator]
    if database_url.startswith("postgresql"):
        # Issuance waited for the ban's row lock, then read the ban.
        assert claims["features"] == []
    # Measured from the commit, not from the ban's `now`.
    assert not_before == int(T0.timestamp()) + 3


def test_a_token_issued_after_the_ban_committed_is_current(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app()
    header = Keys(app).header("tokens:issue")
    grant(app, "reader-1", "comment", now=T0)
    with app.app_context():
        session = db.session()
        add_ban(session, "reader-1", feature="comment", reason="abuse", actor=ACTOR, now=T0)
        session.commit()
        not_before = session.get(Account, "reader-1").not_before  # type: ignore[union-attr]
    assert not_before == int(T0.timestamp()) + 1
    clock.advance(seconds=1)
    token = app.test_client().post("/v1/accounts/reader-1/tokens", headers=header, json={})
    claims = _claims(str(token.get_json()["token"]))
    assert claims["features"] == []
    assert claims["iat"] == not_before


def test_a_downgrade_of_an_account_without_events_moves_not_before(app: Flask) -> None:
    # An account older than change events: its subscription was written without one.
    add_subscription(app, "reader-1", now=T0)
    with app.app_context():
        session = db.session()
        assert session.scalars(select(ChangeEvent)).all() == []
        row = session.scalars(select(Subscription)).one()
        row.lookup_keys = "a_price_without_features"  # Stripe moved it off the Plus price
        event = record_change(session, "reader-1", reason="stripe.sync", now=T0)
        session.commit()
        account = session.get(Account, "reader-1")
        assert account is not None
        assert account.not_before == int(T0.timestamp()) + 1
        assert event.payload["data"]["not_before"] == account.not_before
        assert set(event.payload["data"]["changed"]) >= {"comment", "ad_free"}
