"""Several delivery workers on PostgreSQL: never the same event twice at once, order kept."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Mapping

import pytest
from flask import Flask
from sqlalchemy import select

from entitlements import db
from entitlements.models import EventDelivery
from entitlements.services.webhook_delivery import Response, attempt, claim_next
from tests.conftest import SECRET, T0, FakeClock
from tests.factories import ban, grant
from tests.integration.test_change_events import endpoint


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
            while (delivery := claim_next(session, now=clock())) is not None:
                attempt(session, delivery, secret_key=SECRET, send=send, clock=clock)
                session.commit()
            session.rollback()

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
