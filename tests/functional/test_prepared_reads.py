"""The hot read as a prepared statement through libpq (PostgreSQL): the same rows a psycopg
cursor returns, and every failure handled the way the cursor's would be."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import event

from entitlements import db
from entitlements.db.hot_reads import bounded_reads
from entitlements.db.prepared import _statement
from entitlements.errors import UnavailableError
from entitlements.services.check import QUERIES
from entitlements.services.service_keys import lookup_hash
from tests.conftest import FakeClock, Keys
from tests.factories import add_subscription, ban, grant
from tests.support.responses import json_object

READ = "entitlements:read"
CHECK = "/v1/accounts/reader-1/entitlements"


@pytest.fixture(autouse=True)
def _postgresql_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("prepared statements through libpq are PostgreSQL's path")


def kept_connection(app: Flask) -> Any:
    """Return the pooled connection the hot reads keep (after one read made it)."""
    with app.test_request_context():
        db.fetch_all(QUERIES, ("reader-1", ""))
    (connection,) = app.extensions[db.READS]._idle
    return connection


def test_rows_are_exactly_what_a_psycopg_cursor_returns(
    app: Flask, keys: Keys, clock: FakeClock
) -> None:
    now = clock()
    add_subscription(
        app, "reader-1", now=now, cancel_at_period_end=True, cancel_at=now + timedelta(days=3)
    )
    grant(app, "reader-1", "archive", now=now, ends_at=now + timedelta(days=9), reason="print")
    ban(app, "reader-1", now=now, reason="heated")
    key = keys.make(READ)
    params = ("reader-1", lookup_hash(key) or "")
    with app.test_request_context():
        rows = db.fetch_all(QUERIES, params)
    cursor_sql = QUERIES["postgresql"].replace("$1", "%(a)s").replace("$2", "%(k)s")
    with app.app_context(), db.engine().connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        expected = driver.execute(cursor_sql, {"a": params[0], "k": params[1]}).fetchall()
    assert len(rows) == 4  # a subscription, a grant, a ban and the key
    assert sorted(rows, key=repr) == sorted(expected, key=repr)


def test_a_deallocated_statement_is_prepared_again_on_the_same_connection(
    app: Flask, keys: Keys
) -> None:
    connection = kept_connection(app)
    connection.driver_connection.execute("DEALLOCATE ALL")
    response = app.test_client().get(CHECK, headers=keys.header(READ))
    assert response.status_code == 200
    assert app.extensions[db.READS]._idle == [connection]


def test_a_killed_backend_is_dropped_and_the_read_runs_again_on_a_new_connection(
    app: Flask, keys: Keys
) -> None:
    connection = kept_connection(app)
    pid = connection.driver_connection.info.backend_pid
    with app.app_context(), db.engine().connect() as other:
        other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    client = app.test_client()
    response = client.get(CHECK, headers=keys.header(READ))
    assert response.status_code == 200
    assert connection.dbapi_connection is None  # dropped, not kept
    (kept,) = app.extensions[db.READS]._idle
    assert kept.driver_connection.info.backend_pid != pid


def test_a_database_that_stays_down_is_503_after_one_retry(app: Flask, keys: Keys) -> None:
    pid = kept_connection(app).driver_connection.info.backend_pid
    with app.app_context(), db.engine().connect() as other:
        other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    reads: db.HotReads = app.extensions[db.READS]
    opened: list[int] = []

    @event.listens_for(reads.engine, "connect")
    def _count(dbapi_connection: Any, _record: Any) -> None:
        opened.append(1)
        with app.app_context(), db.engine().connect() as other:
            other.exec_driver_sql(terminate)  # every new connection dies before its read

    response = app.test_client().get(CHECK, headers=keys.header(READ))
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert len(opened) == 1  # one retry, not a loop


def test_sql_errors_arrive_as_psycopgs_own_classes(app: Flask) -> None:
    kept_connection(app)
    with app.test_request_context(), pytest.raises(psycopg.errors.UndefinedTable) as raised:
        db.fetch_all({"postgresql": "SELECT * FROM no_such_table WHERE x = $1"}, ("x",))
    assert "no_such_table" in str(raised.value)
    assert not app.extensions[db.READS]._idle
    with app.test_request_context(), pytest.raises(psycopg.errors.SyntaxError):
        db.fetch_all({"postgresql": "SELEC 1"}, ())


def test_each_statement_text_has_its_own_name() -> None:
    first, text = _statement(QUERIES["postgresql"])
    assert text == QUERIES["postgresql"].encode()
    assert _statement(QUERIES["postgresql"])[0] == first
    assert _statement(QUERIES["postgresql"] + " ")[0] != first


def test_a_migration_that_changes_a_result_type_is_prepared_again(
    app: Flask, keys: Keys, clock: FakeClock
) -> None:
    add_subscription(app, "reader-1", now=clock())
    connection = kept_connection(app)
    header = keys.header(READ)
    with app.app_context(), db.engine().begin() as ddl:
        (original,) = ddl.exec_driver_sql(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'subscriptions'::regclass AND attname = 'status'"
        ).one()
        ddl.exec_driver_sql("ALTER TABLE subscriptions ALTER COLUMN status TYPE text")
    try:
        # The kept connection's plan returns the old type: PostgreSQL refuses to run it.
        response = app.test_client().get(CHECK, headers=header)
        assert response.status_code == 200
        assert json_object(response)["plan"] == "plus"
        assert app.extensions[db.READS]._idle == [connection]
    finally:
        with app.app_context(), db.engine().begin() as ddl:
            ddl.exec_driver_sql(f"ALTER TABLE subscriptions ALTER COLUMN status TYPE {original}")


def test_a_statement_already_on_the_server_is_used_as_it_is(app: Flask, keys: Keys) -> None:
    connection = kept_connection(app)
    # The connection's record of what it prepared is lost; the server still has the statement.
    del connection.info["entitlements.prepared"]
    response = app.test_client().get(CHECK, headers=keys.header(READ))
    assert response.status_code == 200
    assert app.extensions[db.READS]._idle == [connection]


def test_bad_parameters_are_refused_before_anything_is_sent(app: Flask) -> None:
    kept_connection(app)
    with app.test_request_context(), pytest.raises(psycopg.DataError, match="NUL"):
        db.fetch_all(QUERIES, ("reader\x00-1", ""))
    with (
        app.test_request_context(),
        pytest.raises(psycopg.ProgrammingError, match="2 placeholders"),
    ):
        db.fetch_all(QUERIES, ("reader-1",))


def test_a_read_that_waits_too_long_is_cancelled_and_answered_503(make_app: Any) -> None:
    app = make_app(READ_TIMEOUT="1s")
    slow = {"postgresql": "SELECT pg_sleep(3) WHERE $1 = $1"}
    with app.test_request_context(), pytest.raises(UnavailableError):
        db.fetch_all(slow, ("x",))
    assert not app.extensions[db.READS]._idle


def test_the_urls_own_options_follow_the_read_timeout() -> None:
    url = "postgresql://u@h/d?options=-c%20statement_timeout%3D900"
    args = bounded_reads(url, timedelta(seconds=5))
    assert args["options"] == "-c statement_timeout=5000 -c statement_timeout=900"
    assert args["tcp_user_timeout"] == db.READ_TCP_USER_TIMEOUT_MS
    assert "options" not in bounded_reads("postgresql://u@h/d", timedelta(0))
    assert bounded_reads("sqlite:///x.db", timedelta(seconds=5)) == {}
