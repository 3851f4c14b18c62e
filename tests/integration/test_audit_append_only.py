"""The database itself refuses to change or remove audit records, on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from entitlements import db
from entitlements.db import make_engine
from entitlements.migrate import downgrade, upgrade
from entitlements.models import AuditEvent
from entitlements.services.audit import Actor, record
from tests.conftest import T0, _create_postgres_database, _drop_postgres_database

MESSAGE = "audit_events is append-only"


def _add_event(app: Flask, action: str = "grant.add") -> int:
    with app.app_context():
        session = db.session()
        event = record(
            session,
            Actor("test", "req-1"),
            action=action,
            subject_type="grant",
            subject_id="1",
            account_id="reader",
            now=T0,
            after={"feature": "comment"},
            reason="because",
        )
        session.commit()
        return event.id


def _events(app: Flask) -> list[tuple[int, str, str | None]]:
    with app.app_context():
        rows = db.session().execute(
            select(AuditEvent.id, AuditEvent.action, AuditEvent.reason).order_by(AuditEvent.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_inserting_audit_records_still_works(app: Flask) -> None:
    first, second = _add_event(app), _add_event(app, "ban.add")
    assert _events(app) == [(first, "grant.add", "because"), (second, "ban.add", "because")]


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(reason="rewritten"),
        update(AuditEvent).where(AuditEvent.action == "grant.add").values(actor="someone-else"),
        delete(AuditEvent),
        delete(AuditEvent).where(AuditEvent.action == "grant.add"),
    ],
    ids=["update-all", "update-one", "delete-all", "delete-one"],
)
def test_update_and_delete_are_refused_and_change_nothing(app: Flask, statement: object) -> None:
    event_id = _add_event(app)
    with app.app_context():
        session = db.session()
        with pytest.raises(DBAPIError, match=MESSAGE):
            session.execute(statement)  # type: ignore[call-overload]
        session.rollback()
    assert _events(app) == [(event_id, "grant.add", "because")]


def test_changing_a_loaded_record_through_the_orm_is_refused(app: Flask) -> None:
    event_id = _add_event(app)
    with app.app_context():
        session = db.session()
        event = session.get(AuditEvent, event_id)
        assert event is not None
        event.reason = "covering tracks"
        with pytest.raises(DBAPIError, match=MESSAGE):
            session.commit()
        session.rollback()
        session.delete(session.get(AuditEvent, event_id))
        with pytest.raises(DBAPIError, match=MESSAGE):
            session.commit()
        session.rollback()
    assert _events(app) == [(event_id, "grant.add", "because")]


def test_raw_sql_cannot_bypass_the_guard(app: Flask) -> None:
    _add_event(app)
    with app.app_context(), db.engine().connect() as connection:
        with pytest.raises(DBAPIError, match=MESSAGE):
            connection.execute(text("UPDATE audit_events SET actor = 'x'"))
        connection.rollback()
        with pytest.raises(DBAPIError, match=MESSAGE):
            connection.execute(text("DELETE FROM audit_events"))
        connection.rollback()
        assert connection.scalar(select(func.count()).select_from(AuditEvent)) == 1


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own on this run's engine, for stepping the migration up and down."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'append-only.db'}"
        return
    url = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(url)


def _try_delete(url: str) -> bool:
    """Insert a record and try to delete it; return whether the database allowed it."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                AuditEvent.__table__.insert(),  # type: ignore[attr-defined]
                {"at": T0, "actor": "t", "action": "a", "subject_type": "s", "subject_id": "1"},
            )
        try:
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM audit_events"))
        except DBAPIError as exc:
            if MESSAGE not in str(exc):
                raise
            return False
        return True
    finally:
        engine.dispose()


def test_the_migration_adds_the_guard_and_its_downgrade_removes_it(fresh_url: str) -> None:
    upgrade(fresh_url, "0002")
    assert _try_delete(fresh_url) is True
    upgrade(fresh_url, "0003")
    assert _try_delete(fresh_url) is False
    downgrade(fresh_url, "0002")
    assert _try_delete(fresh_url) is True
    upgrade(fresh_url)
    assert _try_delete(fresh_url) is False
