"""One account read model: the ORM path and the one-statement hot read give the same facts."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from entitlements import db
from entitlements.access import resolve
from entitlements.runtime import runtime
from entitlements.services.account_facts import Facts, facts_from_rows, load_facts
from entitlements.services.bans import lift_ban
from entitlements.services.check import QUERIES, check_access
from entitlements.services.grants import revoke_grant
from entitlements.services.service_keys import lookup_hash
from tests.conftest import FakeClock, Keys
from tests.factories import ACTOR, add_subscription, ban, grant


def ordered(facts: Facts) -> Facts:
    """Return the facts in id order: neither read orders its rows."""
    return Facts(
        tuple(sorted(facts.subscriptions, key=lambda s: s.id)),
        tuple(sorted(facts.grants, key=lambda g: g.id)),
        tuple(sorted(facts.bans, key=lambda b: b.id)),
    )


def test_the_orm_path_and_the_hot_read_map_the_same_facts(
    app: Flask, keys: Keys, clock: FakeClock
) -> None:
    now = clock()
    add_subscription(app, "reader-1", now=now, cancel_at_period_end=True)
    add_subscription(app, "reader-1", now=now, status="past_due", lookup_key="plus_annual")
    grant(app, "reader-1", "comment", now=now, kind="grandfather", ends_by_policy=True)
    grant(app, "reader-1", "archive", now=now, ends_at=now + timedelta(days=9))
    revoked = grant(app, "reader-1", "ad_free", now=now - timedelta(days=1))
    ban(app, "reader-1", now=now, ends_at=now + timedelta(days=2))
    lifted = ban(app, "reader-1", now=now, public_message="Be kind.")
    key = keys.make("entitlements:read", name="comments")
    with app.app_context():
        session = db.session()
        revoke_grant(session, revoked, reason="ended", actor=ACTOR, now=now)
        lift_ban(session, lifted, reason="appealed", actor=ACTOR, now=now)
        session.commit()

    with app.test_request_context():
        policy = runtime().policy
        orm = load_facts(db.session(), "reader-1", policy)
        hot = facts_from_rows(db.fetch_all(QUERIES, ("reader-1", lookup_hash(key) or "")), policy)
        checked = check_access(db.fetch_all, "reader-1", key, policy=policy, now=now)

    assert (len(orm.subscriptions), len(orm.grants), len(orm.bans)) == (2, 3, 2)
    assert ordered(hot) == ordered(orm)
    [follows] = [g for g in orm.grants if g.kind == "grandfather"]
    assert follows.ends_at == policy.grandfather_until
    assert checked.caller is not None
    assert checked.caller.name == "comments"
    assert checked.caller.scopes == {"entitlements:read"}
    assert checked.access == resolve(
        orm.subscriptions, orm.grants, orm.bans, now=now, policy=policy
    )


def test_an_unknown_key_is_no_caller_and_an_unknown_account_holds_nothing(app: Flask) -> None:
    with app.test_request_context():
        checked = check_access(
            db.fetch_all, "nobody", "not-a-key", policy=runtime().policy, now=FakeClock()()
        )
    assert checked.caller is None
    assert checked.access.features == ()
