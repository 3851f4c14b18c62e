"""The check and token endpoints' hot path: body reading, the session cookie, kept connections,
request ids. Each shortcut behaves exactly like the general path it replaces."""

from __future__ import annotations

import json
import os

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select

from entitlements import db
from entitlements.db import hot_reads
from entitlements.db.engines import _OPENED_BY
from entitlements.services.check import QUERIES
from tests.conftest import Keys
from tests.support.responses import json_object

ISSUE = "tokens:issue"
TOKENS = "/v1/accounts/reader-1/tokens"


def post_body(client: FlaskClient, keys: Keys, body: bytes, content_type: str) -> object:
    headers = {**keys.header(ISSUE), "Content-Type": content_type}
    return client.post(TOKENS, data=body, headers=headers)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/x+json",
    ],
)
def test_json_bodies_are_read_whatever_the_json_content_type(
    client: FlaskClient, keys: Keys, content_type: str
) -> None:
    response = post_body(client, keys, b'{"audience": "site"}', content_type)
    assert response.status_code == 201, response.json  # type: ignore[attr-defined]


def test_a_json_body_with_another_content_type_is_400(client: FlaskClient, keys: Keys) -> None:
    response = post_body(client, keys, b'{"audience": "site"}', "text/plain")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "Content-Type" in response.json["detail"]  # type: ignore[attr-defined]


def test_an_empty_body_takes_the_default_audience(client: FlaskClient, keys: Keys) -> None:
    response = post_body(client, keys, b"", "text/plain")
    assert response.status_code == 201  # type: ignore[attr-defined]


def test_large_bodies_take_werkzeugs_path_and_its_limit(client: FlaskClient, keys: Keys) -> None:
    # Over the direct-read size: still parsed, and the unknown field still refused.
    padded = json.dumps({"audience": "site", "pad": "x" * 100_000}).encode()
    response = post_body(client, keys, padded, "application/json")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.json["fields"] == ["pad"]  # type: ignore[attr-defined]
    too_big = json.dumps({"audience": "x" * (2 * 1024 * 1024)}).encode()
    response = post_body(client, keys, too_big, "application/json")
    assert response.status_code == 413  # type: ignore[attr-defined]
    assert response.content_type == "application/problem+json"  # type: ignore[attr-defined]


def test_api_requests_get_no_session_cookie_and_no_vary(client: FlaskClient, keys: Keys) -> None:
    check = client.get(
        "/v1/accounts/reader-1/entitlements", headers=keys.header("entitlements:read")
    )
    token = client.post(TOKENS, headers=keys.header(ISSUE))
    for response in (check, token):
        assert response.status_code in (200, 201)
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")


def test_the_session_signer_is_reused_until_the_secret_changes(app: Flask) -> None:
    interface = app.session_interface
    first = interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert interface.get_signing_serializer(app) is first  # type: ignore[attr-defined]
    app.config["SECRET_KEY_FALLBACKS"] = ["an-older-secret-key-for-rotation"]
    rotated = interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert rotated is not first
    assert interface.get_signing_serializer(app) is rotated  # type: ignore[attr-defined]


def dbapi_connection(app: Flask) -> object:
    """Return the driver connection the hot read of one request used."""
    with app.test_request_context():
        db.fetch_all(QUERIES, ("reader-1", ""))
        connection = g.db_reads.driver_connection
    return connection


def test_hot_reads_keep_their_connection_between_requests(app: Flask) -> None:
    first = dbapi_connection(app)
    assert dbapi_connection(app) is first


def test_a_failed_statement_never_leaves_its_connection_for_the_next_request(app: Flask) -> None:
    first = dbapi_connection(app)
    # (SQLite reports a missing table as an OperationalError, answered as 503; PostgreSQL as
    # a ProgrammingError, raised as it is. Either way the connection goes.)
    with app.test_request_context(), pytest.raises(Exception):  # noqa: B017, PT011
        db.fetch_all({"sqlite": "SELECT * FROM no_such_table",
                      "postgresql": "SELECT * FROM no_such_table"}, ())  # fmt: skip
    assert dbapi_connection(app) is not first


def test_a_forked_process_opens_its_own_connections(app: Flask) -> None:
    parents = dbapi_connection(app)
    with app.app_context(), db.session() as session:
        session.execute(select(1)).all()  # and one pooled in the ORM's engine
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child, which coverage does not see
        code = 1
        try:
            with app.app_context(), db.session() as session:
                session.execute(select(1)).all()
                pooled = session.connection().connection.driver_connection
            code = 0 if dbapi_connection(app) is not parents and pooled is not parents else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The child left the parent's connection alone: the parent still reads on it.
    assert dbapi_connection(app) is parents


def test_a_pooled_connection_opened_by_another_process_is_never_handed_out(app: Flask) -> None:
    with app.app_context(), db.session() as session:
        pooled = session.connection().connection
        first = pooled.driver_connection
        assert first is not None
        pooled.info[_OPENED_BY] = -1  # as if inherited through a fork the hook missed
    with app.app_context(), db.session() as session:
        assert session.connection().connection.driver_connection is not first
    first.execute("SELECT 1")  # left open for its owner, not closed from here
    first.close()


def test_dispose_closes_the_kept_connections(app: Flask) -> None:
    dbapi_connection(app)
    reads: db.HotReads = app.extensions[db.READS]
    kept = list(reads._idle)
    assert kept
    reads.dispose()
    assert not reads._idle
    assert all(connection.dbapi_connection is None for connection in kept)


def test_a_response_that_sets_nosniff_is_not_given_a_second_one(app: Flask) -> None:
    @app.get("/_test/nosniff")
    def nosniff() -> tuple[str, int, dict[str, str]]:
        return "ok", 200, {"X-Content-Type-Options": "nosniff"}

    response = app.test_client().get("/_test/nosniff", headers={"X-Request-Id": "req-1"})
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert response.headers["X-Request-Id"] == "req-1"


def test_a_body_shorter_than_its_content_length_is_400(client: FlaskClient, keys: Keys) -> None:
    body = b'{"audience": "site"}'
    response = client.post(
        TOKENS,
        data=body,
        headers={**keys.header(ISSUE), "Content-Type": "application/json"},
        environ_overrides={"CONTENT_LENGTH": str(len(body) + 50)},
    )
    assert response.status_code == 400
    assert "shorter" in json_object(response)["detail"]


@pytest.mark.parametrize("setting", ["RECYCLE_SECONDS", "POOL_SIZE"])
def test_connections_past_their_time_or_over_the_pool_size_go_back(
    app: Flask, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setattr(hot_reads, setting, 0)
    dbapi_connection(app)
    assert not app.extensions[db.READS]._idle


def test_a_connection_in_use_while_disposing_is_not_kept(app: Flask) -> None:
    reads: db.HotReads = app.extensions[db.READS]
    with app.test_request_context():
        db.fetch_all(QUERIES, ("reader-1", ""))
        in_use = g.db_reads
        reads.dispose()
    assert not reads._idle
    assert in_use.dbapi_connection is None
