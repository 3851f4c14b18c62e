"""Change events: written with the change, signed as Standard Webhooks, retried, in order."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from entitlements import db
from entitlements.cli.webhooks import Worker, deliver_next
from entitlements.models import Account, Ban, ChangeEvent, EventDelivery, WebhookEndpoint
from entitlements.services.audit import Actor
from entitlements.services.bans import add_ban, lift_ban
from entitlements.services.grandfather_notice import announce_grandfather_endings
from entitlements.services.webhook_delivery import (
    RETRY_FOR,
    WAITING_CAP,
    Response,
    post,
    pull_forward,
    replay_event,
)
from entitlements.services.webhook_endpoints import add_endpoint, rotate_secret
from tests.conftest import SECRET, T0, FakeClock
from tests.factories import ban, grant
from tests.support.receiver import receiver

ACTOR = Actor("test")


def endpoint(app: Flask, url: str = "http://127.0.0.1:9/events") -> str:
    """Register an endpoint; return its whsec_ secret."""
    with app.app_context():
        session = db.session()
        _, secret = add_endpoint(
            session, url, event_types=(), secret_key=SECRET, actor=ACTOR, now=T0,
            production=False, allow_private=True,
        )
        session.commit()
    return secret


def events(app: Flask) -> list[ChangeEvent]:
    with app.app_context():
        return list(db.session().scalars(select(ChangeEvent).order_by(ChangeEvent.id)))


def deliveries(app: Flask) -> list[EventDelivery]:
    with app.app_context():
        return list(db.session().scalars(select(EventDelivery).order_by(EventDelivery.id)))


def work(app: Flask, send: Callable[[str, Mapping[str, str], bytes], Response],
         clock: Callable[[], datetime]) -> list[str]:
    """Deliver every due delivery once (what `webhooks work --once` does); return outcomes."""
    outcomes = []
    with app.app_context():
        session = db.session()
        while (status := deliver_next(session, secret_key=SECRET, send=send, clock=clock,
                                      worker=Worker())) is not None:
            outcomes.append(status)
    return outcomes


def local_post(url: str, headers: Mapping[str, str], body: bytes) -> Response:
    """POST as the worker does, to this test's receiver on 127.0.0.1."""
    return post(url, headers, body, allow_private=True)


def test_a_ban_writes_one_event_and_a_delivery_per_endpoint_with_not_before(app: Flask) -> None:
    endpoint(app)
    grant(app, "reader-1", "comment", now=T0)
    ban(app, "reader-1", now=T0 + timedelta(seconds=10, microseconds=500))
    first, second = events(app)
    assert (first.sequence, second.sequence) == (1, 2)
    data = second.payload["data"]
    assert second.payload["type"] == "entitlements.changed"
    assert data["account_id"] == "reader-1"
    assert data["entitlements"]["features"] == []
    assert data["entitlements"]["restrictions"][0]["feature"] == "comment"
    assert data["changed"] == ["comment"]
    assert data["reason"] == "ban.add"
    # Whole seconds, after the ban: every token issued before it has a smaller iat.
    assert data["not_before"] == int(T0.timestamp()) + 11
    assert [d.status for d in deliveries(app)] == ["pending", "pending"]
    with app.app_context():
        account = db.session().get(Account, "reader-1")
        assert account is not None
        assert account.not_before == data["not_before"]


def test_a_failure_after_the_change_leaves_neither_the_change_nor_its_event(app: Flask) -> None:
    endpoint(app)
    with app.app_context():
        session = db.session()
        add_ban(session, "reader-1", feature="comment", reason="abuse", actor=ACTOR, now=T0)
        session.flush()
        assert session.scalar(select(func.count()).select_from(ChangeEvent)) == 1
        # The entry point fails before its commit: everything goes.
        session.rollback()
    assert events(app) == []
    assert deliveries(app) == []
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(Ban)) == 0


def test_changes_of_one_account_in_one_transaction_become_one_event(app: Flask) -> None:
    endpoint(app)
    ban_id = ban(app, "reader-1", now=T0)
    with app.app_context():
        session = db.session()
        lift_ban(session, ban_id, reason="appeal", actor=ACTOR, now=T0 + timedelta(hours=1))
        add_ban(session, "reader-1", feature="comment", reason="again", actor=ACTOR,
                now=T0 + timedelta(hours=1))
        session.commit()
    rows = events(app)
    assert [e.sequence for e in rows] == [1, 2]
    assert rows[1].payload["data"]["reason"] == "ban.lift, ban.add"


def test_the_secret_is_encrypted_at_rest(app: Flask) -> None:
    secret = endpoint(app)
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    with app.app_context():
        row = db.session().scalars(select(WebhookEndpoint)).one()
    assert secret not in row.secret_encrypted
    assert secret.removeprefix("whsec_") not in row.secret_encrypted


def test_deliveries_verify_with_the_standardwebhooks_reference_both_secrets_in_rotation(
    make_app: Callable[..., Flask],
) -> None:
    # The reference library reads the wall clock: sign at the real time.
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    app = make_app(CLOCK=clock)
    old = endpoint(app)
    with app.app_context():
        session = db.session()
        _, new = rotate_secret(session, 1, secret_key=SECRET, actor=ACTOR, now=clock())
        session.commit()
    grant(app, "reader-1", "comment", now=clock())
    sent: list[tuple[Mapping[str, str], bytes]] = []

    def send(_url: str, headers: Mapping[str, str], body: bytes) -> Response:
        sent.append((headers, body))
        return Response(204)

    work(app, send, clock)
    ((headers, body),) = sent
    for secret in (old, new):
        payload = Webhook(secret).verify(body, dict(headers))
        assert payload["data"]["account_id"] == "reader-1"
        assert payload["data"]["entitlements"]["features"] == ["comment"]
    assert headers["webhook-id"] == f"evt_{events(app)[0].id}"
    assert len(headers["webhook-signature"].split()) == 2


def test_a_failed_delivery_backs_off_then_succeeds_against_a_real_receiver(
    app: Flask, clock: FakeClock
) -> None:
    with receiver() as site:
        site.statuses = [500, 503]
        endpoint(app, site.url)
        grant(app, "reader-1", "comment", now=clock())
        assert work(app, local_post, clock) == ["pending"]
        assert work(app, local_post, clock) == []  # not due yet: 5 s of backoff
        clock.advance(seconds=5)
        assert work(app, local_post, clock) == ["pending"]
        clock.advance(seconds=29)
        assert work(app, local_post, clock) == []
        clock.advance(seconds=1)
        assert work(app, local_post, clock) == ["delivered"]
        (row,) = deliveries(app)
        assert (row.attempts, row.last_status_code, row.last_error) == (3, 204, None)
        ids = {r.headers["webhook-id"] for r in site.received}
        assert len(site.received) == 3
        assert len(ids) == 1  # the same message each time, so receivers deduplicate


def test_in_order_per_account_a_later_event_waits_for_the_earlier_to_succeed_or_fail(
    app: Flask, clock: FakeClock
) -> None:
    endpoint(app)
    grant(app, "reader-1", "comment", now=clock())
    ban(app, "reader-1", now=clock())
    grant(app, "reader-2", "comment", now=clock())
    order: list[str] = []

    def failing_first(_url: str, _headers: Mapping[str, str], body: bytes) -> Response:
        data = json.loads(body)["data"]
        order.append(f"{data['account_id']}#{data['sequence']}")
        if data["account_id"] == "reader-1" and data["sequence"] == 1:
            return Response(500, "HTTP 500")
        return Response(200)

    # reader-1's second event is held behind its first; reader-2 is not held by reader-1.
    assert work(app, failing_first, clock) == ["pending", "delivered"]
    assert order == ["reader-1#1", "reader-2#1"]
    clock.advance(seconds=RETRY_FOR.total_seconds())
    assert work(app, failing_first, clock) == ["failed", "delivered"]
    assert order[2:] == ["reader-1#1", "reader-1#2"]
    assert [d.status for d in deliveries(app)] == ["failed", "delivered", "delivered"]


def test_replay_makes_a_delivered_event_due_again_and_is_audited(
    app: Flask, clock: FakeClock
) -> None:
    endpoint(app)
    grant(app, "reader-1", "comment", now=clock())
    assert work(app, lambda *_: Response(200), clock) == ["delivered"]
    (event,) = events(app)
    with app.app_context():
        session = db.session()
        replayed = replay_event(session, event.id, actor=ACTOR, now=clock())
        session.commit()
    assert len(replayed) == 1
    assert work(app, lambda *_: Response(200), clock) == ["delivered"]
    assert deliveries(app)[0].attempts == 1  # a replay starts counting afresh


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_is_not_followed_and_counts_as_a_failure(
    app: Flask, clock: FakeClock, status: int
) -> None:
    with receiver() as site:
        site.statuses = [status]
        endpoint(app, site.url)
        grant(app, "reader-1", "comment", now=clock())
        assert work(app, local_post, clock) == ["pending"]
        assert deliveries(app)[0].last_error == f"HTTP {status}"  # the status, never a body
        assert len(site.received) == 1


def test_grandfather_periods_ending_soon_are_announced_once(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app(GRANDFATHER_UNTIL="2026-01-25T00:00:00Z")
    endpoint(app)
    grant(app, "follows-policy", "comment", now=T0, kind="grandfather", ends_by_policy=True,
          policy_end=datetime(2026, 1, 25, tzinfo=UTC))
    grant(app, "own-end-soon", "comment", now=T0, kind="grandfather",
          ends_at=T0 + timedelta(days=3))
    grant(app, "own-end-later", "comment", now=T0, kind="grandfather",
          ends_at=T0 + timedelta(days=60))
    with app.app_context():
        session = db.session()
        assert announce_grandfather_endings(session, now=clock(), days=14) == 2
        session.commit()
        assert announce_grandfather_endings(session, now=clock(), days=14) == 0
        session.commit()
    scheduled = [e for e in events(app) if e.type == "entitlements.scheduled"]
    assert sorted(e.account_id for e in scheduled) == ["follows-policy", "own-end-soon"]
    assert scheduled[0].payload["data"]["reason"] == "grandfather.ending"
    # The endpoint wants every type by default: each announcement is to be delivered.
    assert len(deliveries(app)) == 5


def down(*_: object) -> Response:
    return Response(None, "ConnectionRefusedError: [Errno 111] Connection refused")


def up(*_: object) -> Response:
    return Response(200)


def fail_until_backed_off(app: Flask, clock: FakeClock, times: int) -> EventDelivery:
    """Fail reader-1's first event `times` times, each when due; return its delivery."""
    for n in range(times):
        if n:
            clock.now = deliveries(app)[0].next_attempt_at
        assert work(app, down, clock) == ["pending"]
    clock.advance(minutes=1)
    return deliveries(app)[0]


def test_after_a_2xx_the_endpoints_waiting_deliveries_become_due_now(
    app: Flask, clock: FakeClock
) -> None:
    endpoint(app)
    grant(app, "reader-1", "comment", now=clock())
    waiting = fail_until_backed_off(app, clock, 4)  # now waiting out 10 minutes
    assert waiting.next_attempt_at > clock() + timedelta(minutes=8)
    grant(app, "reader-2", "comment", now=clock())
    # reader-2's 2xx shows the receiver is back: reader-1's event goes out right after it.
    assert work(app, up, clock) == ["delivered", "delivered"]
    assert [d.status for d in deliveries(app)] == ["delivered", "delivered"]


def test_a_revoking_event_is_not_stuck_behind_hours_of_backoff(
    app: Flask, clock: FakeClock
) -> None:
    endpoint(app)
    grant(app, "reader-1", "comment", now=clock())
    waiting = fail_until_backed_off(app, clock, 8)  # now waiting out 4 hours
    assert waiting.next_attempt_at > clock() + timedelta(hours=3)
    ban(app, "reader-1", now=clock())
    with app.app_context():
        session = db.session()
        assert pull_forward(session, now=clock()) == 1  # the ban queued behind it
        session.commit()
        assert pull_forward(session, now=clock()) == 0  # once per newer event
        session.commit()
    # Still down: while the ban waits, the earlier event is tried every WAITING_CAP at most.
    assert work(app, down, clock) == ["pending"]
    assert deliveries(app)[0].next_attempt_at == clock() + WAITING_CAP
    clock.advance(seconds=WAITING_CAP.total_seconds())
    assert work(app, up, clock) == ["delivered", "delivered"]


def test_a_replayed_old_event_gets_a_fresh_retry_window(app: Flask, clock: FakeClock) -> None:
    endpoint(app)
    grant(app, "reader-1", "comment", now=clock())
    clock.advance(seconds=(RETRY_FOR + timedelta(hours=1)).total_seconds())
    assert work(app, down, clock) == ["failed"]
    with app.app_context():
        session = db.session()
        replay_event(session, events(app)[0].id, actor=ACTOR, now=clock())
        session.commit()
    assert work(app, down, clock) == ["pending"]  # a blip, not the end
    row = deliveries(app)[0]
    assert (row.attempts, row.next_attempt_at) == (1, clock() + timedelta(seconds=5))
    assert row.retry_until == clock() + RETRY_FOR
    clock.advance(seconds=5)
    assert work(app, up, clock) == ["delivered"]
