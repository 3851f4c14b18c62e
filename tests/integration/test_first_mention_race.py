"""Two transactions that mention a new account at once both succeed (no primary-key error)."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from sqlalchemy import text

from entitlements import db
from entitlements.models import Account
from entitlements.services.accounts import ensure_account
from tests.conftest import T0


def test_a_second_first_mention_waits_for_the_first_and_finds_its_row(app: Flask) -> None:
    with app.app_context():
        if db.engine().dialect.name != "postgresql":
            pytest.skip("SQLite serialises writers with its database lock")
        first = db.session()
        ensure_account(first, "new-reader", now=T0)
        first.flush()  # the row is written but not committed: the other insert must wait
        outcome: list[object] = []

        def second() -> None:
            with app.app_context():
                session = db.session()
                try:
                    outcome.append(ensure_account(session, "new-reader", now=T0).id)
                    session.commit()
                except Exception as exc:  # the test reports whatever it was
                    outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        # Wait until the second insert is really blocked on the first one's row lock.
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO accounts%'"
        )
        deadline = time.monotonic() + 10
        # pg_stat_activity is read once per transaction unless its snapshot is cleared.
        while first.execute(text("SELECT pg_stat_clear_snapshot()")) and not first.scalar(waiting):
            assert time.monotonic() < deadline, "the second insert never waited"
            assert thread.is_alive(), outcome  # it must wait, not fail or pass the first
            time.sleep(0.02)
        first.commit()
        thread.join(timeout=10)
        assert outcome == ["new-reader"]
        assert db.session().get(Account, "new-reader") is not None
