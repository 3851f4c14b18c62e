"""Delivery workers: leases, deadlines, several workers, bad secrets, the claim's plan."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import cast

import pytest
from flask import Flask
from sqlalchemy import Table, insert, select

from entitlements import db
from entitlements.cli.webhooks import Worker, deliver, deliver_next
from entitlements.models import ChangeEvent, EventDelivery, WebhookEndpoint
from entitlements.services.webhook_delivery import (
    LEASE,
    WINDOW,
    Response,
    claim_next,
    record_outcome,
)
from entitlements.services.webhook_endpoints import (
    disable_endpoint,
    encrypt_secret,
    new_secret,
    rotate_secret,
)
from entitlements.services.webhook_send import post
from tests.conftest import SECRET, T0, FakeClock
from tests.factories import ban, grant
from tests.integration.test_change_events import ACTOR, deliveries, endpoint, work


def test_two_workers_never_deliver_the_same_event_at_once_and_keep_each_accounts_order(
    app: Flask, clock: FakeClock, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL's row locks (SQLite runs one worker)")
    endpoint(app)
    for n in range(6):
        grant(app, f"reader-{n}", "comment", now=T0)
        ban(app, f"reader-{n}", now=T0)
        grant(app, f"reader-{n}", "archive", now=T0)
    guard = threading.Lock()
    in_flight: set[str] = set()
    sent: list[tuple[str, int]] = []
    overlaps: list[str] = []
    by_worker: Counter[str] = Counter()

    def send(_url: str, headers: Mapping[str, str], body: bytes) -> Response:
        data = json.loads(body)["data"]
        with guard:
            # The same event, or an account's later event, while one is in flight is a bug.
            if headers["webhook-id"] in in_flight or data["account_id"] in in_flight:
                overlaps.append(headers["webhook-id"])
            in_flight.update((headers["webhook-id"], data["account_id"]))
        time.sleep(0.02)
        with guard:
            in_flight.difference_update((headers["webhook-id"], data["account_id"]))
            sent.append((data["account_id"], data["sequence"]))
            by_worker[threading.current_thread().name] += 1
        return Response(200)

    def worker() -> None:
        with app.app_context():
            session = db.session()
            while deliver_next(session, secret_key=SECRET, send=send, clock=clock,
                               worker=Worker()) is not None:
                pass

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert overlaps == []
    assert len(by_worker) == 2  # both took part
    assert len(sent) == 18
    assert Counter(sent).most_common(1)[0][1] == 1
    for n in range(6):
        assert [s for a, s in sent if a == f"reader-{n}"] == [1, 2, 3]
    with app.app_context():
        statuses = db.session().scalars(select(EventDelivery.status)).all()
    assert set(statuses) == {"delivered"}


@contextlib.contextmanager
def slow_drip() -> Iterator[tuple[str, threading.Event]]:
    """A receiver that answers a status line, then a byte of header every 0.2 s for 10 s."""
    server = socket.create_server(("127.0.0.1", 0))
    arrived = threading.Event()
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                arrived.set()
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(50):
                        if done.wait(0.2):
                            break
                        conn.sendall(b"X")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/events", arrived
    finally:
        done.set()
        server.close()
        thread.join(5)


def test_a_slow_drip_receiver_is_cut_at_the_deadline_and_disabling_does_not_wait(
    app: Flask, clock: FakeClock
) -> None:
    send = functools.partial(post, allow_private=True, deadline_seconds=1.0)
    with slow_drip() as (url, arrived):
        endpoint(app, url)
        grant(app, "reader-1", "comment", now=clock())
        started = time.monotonic()
        assert work(app, send, clock) == ["pending"]
        assert 0.9 < time.monotonic() - started < 3
        (row,) = deliveries(app)
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
        assert (row.last_error or "").startswith("timeout: no complete answer within 1 s")
        # Retried after the backoff; meanwhile an admin disables the endpoint at once.
        clock.advance(seconds=5)
        arrived.clear()
        outcomes: list[list[str]] = []
        worker = threading.Thread(target=lambda: outcomes.append(work(app, send, clock)))
        worker.start()
        assert arrived.wait(5)
        started = time.monotonic()
        with app.app_context():
            session = db.session()
            disable_endpoint(session, 1, actor=ACTOR, now=clock())
            session.commit()
        assert time.monotonic() - started < 0.5  # no row lock held across the POST
        worker.join(5)
    assert outcomes == [["lost"]]  # the outcome of a delivery disabled meanwhile is dropped
    (row,) = deliveries(app)
    assert (row.status, row.last_error) == ("failed", "endpoint disabled")


def test_a_worker_that_dies_mid_delivery_leaves_a_lease_that_expires(
    app: Flask, clock: FakeClock
) -> None:
    endpoint(app)
    grant(app, "reader-1", "comment", now=clock())
    ban(app, "reader-1", now=clock())
    with app.app_context():
        session = db.session()
        claim = claim_next(session, now=clock())
        session.commit()  # leased; the worker then dies before recording anything
        assert claim is not None
        assert claim_next(session, now=clock()) is None  # not its later event either
        session.rollback()
    clock.advance(seconds=LEASE.total_seconds())
    sent: list[str] = []

    def ok(_url: str, headers: Mapping[str, str], _body: bytes) -> Response:
        sent.append(headers["webhook-id"])
        return Response(200)

    assert work(app, ok, clock) == ["delivered", "delivered"]
    assert sent == [f"evt_{claim.event_id}", f"evt_{claim.event_id + 1}"]
    assert [d.attempts for d in deliveries(app)] == [2, 1]
    with app.app_context():
        session = db.session()
        # The dead worker's late answer finds the lease gone and changes nothing.
        assert record_outcome(session, claim, Response(500, "HTTP 500"), now=clock()) == "lost"
        session.commit()
    assert [d.status for d in deliveries(app)] == ["delivered", "delivered"]


def test_an_undecryptable_secret_fails_its_delivery_and_the_others_keep_flowing(
    app: Flask, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint(app)
    endpoint(app, "http://127.0.0.1:9/other")
    with app.app_context():
        session = db.session()
        row = session.get(WebhookEndpoint, 1)
        assert row is not None  # sealed under another ENTITLEMENTS_SECRET_KEY
        row.secret_encrypted = encrypt_secret(new_secret(), "an older secret key", 1)
        session.commit()
    grant(app, "reader-1", "comment", now=clock())
    grant(app, "reader-2", "comment", now=clock())
    with caplog.at_level(logging.WARNING, "entitlements.cli.webhooks"), app.app_context():
        assert deliver(app, lambda: False, lambda _: None, once=True,
                       send=lambda *_: Response(200)) == 4
    rows = sorted(deliveries(app), key=lambda d: (d.endpoint_id, d.event_id))
    assert [(d.endpoint_id, d.status) for d in rows] == [
        (1, "pending"), (1, "pending"), (2, "delivered"), (2, "delivered")]
    assert "does not decrypt with this ENTITLEMENTS_SECRET_KEY" in (rows[0].last_error or "")
    logged = [r.getMessage() for r in caplog.records]
    assert any("endpoint 1, event 1" in line for line in logged)
    assert not any("whsec_" in line or "reader-1" in line for line in logged)
    with app.app_context():
        session = db.session()
        rotated, _ = rotate_secret(session, 1, secret_key=SECRET, actor=ACTOR, now=clock())
        # The undecryptable secret is not kept as the previous one: it could never sign.
        assert rotated.previous_secret_encrypted is None
        session.commit()
    clock.advance(seconds=5)
    assert work(app, lambda *_: Response(200), clock) == ["delivered", "delivered"]


def test_a_previous_secret_that_no_longer_decrypts_is_skipped(
    app: Flask, clock: FakeClock
) -> None:
    endpoint(app)
    with app.app_context():
        session = db.session()
        row = session.get(WebhookEndpoint, 1)
        assert row is not None
        row.previous_secret_encrypted = encrypt_secret(new_secret(), "an older key", 1)
        row.previous_expires_at = clock() + timedelta(hours=1)
        session.commit()
    grant(app, "reader-1", "comment", now=clock())
    signatures: list[str] = []

    def ok(_url: str, headers: Mapping[str, str], _body: bytes) -> Response:
        signatures.append(headers["webhook-signature"])
        return Response(200)

    assert work(app, ok, clock) == ["delivered"]
    assert len(signatures[0].split()) == 1


def test_the_claim_needs_no_statistics_with_2000_pending(
    app: Flask, clock: FakeClock, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the query plan in question is PostgreSQL's")
    endpoint(app)
    with app.app_context():
        session = db.session()
        events = session.execute(
            insert(cast(Table, ChangeEvent.__table__)).returning(ChangeEvent.id),
            [{"account_id": f"reader-{n % 1000}", "sequence": n // 1000 + 1,
              "type": "entitlements.changed", "payload": {}, "created_at": T0}
             for n in range(2000)],
        ).scalars().all()
        session.execute(insert(cast(Table, EventDelivery.__table__)), [
            {"event_id": event_id, "endpoint_id": 1, "account_id": f"reader-{n % 1000}",
             "sequence": n // 1000 + 1, "status": "pending", "attempts": 0,
             "next_attempt_at": T0, "created_at": T0}
            for n, event_id in enumerate(events)
        ])
        session.commit()
        started = time.monotonic()
        for _ in range(200):
            claim = claim_next(session, now=clock())
            assert claim is not None
            session.commit()
        elapsed = time.monotonic() - started
    # 300 ms a claim with a plan that scans every pending row per candidate; ~1 ms indexed.
    assert elapsed < 4, f"200 claims took {elapsed:.1f} s"


def test_a_long_queue_held_up_behind_a_failing_delivery_does_not_hide_other_accounts(
    app: Flask, clock: FakeClock
) -> None:
    endpoint(app)
    with app.app_context():
        session = db.session()
        accounts = ["reader-1"] * (WINDOW + 6) + ["reader-2"]
        events = session.execute(
            insert(cast(Table, ChangeEvent.__table__)).returning(ChangeEvent.id),
            [{"account_id": account, "sequence": n + 1 if account == "reader-1" else 1,
              "type": "entitlements.changed", "payload": {}, "created_at": T0}
             for n, account in enumerate(accounts)],
        ).scalars().all()
        session.execute(insert(cast(Table, EventDelivery.__table__)), [
            {"event_id": event_id, "endpoint_id": 1, "account_id": account,
             "sequence": n + 1 if account == "reader-1" else 1, "status": "pending",
             "attempts": 1 if n == 0 else 0, "created_at": T0,
             # reader-1's first waits out a backoff; all its later ones are due, and held.
             "next_attempt_at": T0 + timedelta(hours=1) if n == 0 else T0}
            for n, (event_id, account) in enumerate(zip(events, accounts, strict=True))
        ])
        session.commit()
        claim = claim_next(session, now=clock())
        assert claim is not None
        assert claim.event_id == events[-1]  # reader-2's, past a window of held deliveries
        session.rollback()
