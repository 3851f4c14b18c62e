"""Hostile input to the API, the CLI and the server in front: always a 4xx naming the field.

NUL bytes (PostgreSQL refuses them in text), lone surrogates and invalid UTF-8, over-long
values, odd JSON and errors werkzeug or gunicorn raise: never a 500, never a written row.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from entitlements import db
from entitlements.json_rules import MAX_DEPTH
from entitlements.models import AuditEvent, Ban, Grant
from entitlements.server import REQUEST_LIMITS
from entitlements.text_rules import MAX_TEXT
from tests.conftest import SECRET, Keys
from tests.functional.test_cli import Cli
from tests.support.examples import examples
from tests.support.serve import clean_env, serve

PROBLEM = "application/problem+json"
ENTRY_POINT = shutil.which("entitlements", path=os.path.dirname(sys.executable))
# Each breaks the text rules in its own way; every one once reached the database.
BAD_TEXT = {
    "nul": "\x00",
    "inner-nul": "ok\x00ok",
    "surrogate": "\ud800",
    "over-long": "x" * (MAX_TEXT + 1),
}
GRANT = {"account_id": "reader-1", "feature": "comment", "reason": "a reason", "kind": "comp"}
BAN = {"account_id": "reader-1", "feature": "comment", "reason": "a reason"}


def rows(app: Flask) -> tuple[int, int, int]:
    """Count grants, bans and audit records: what a refused request must leave unchanged."""
    with app.app_context():
        session = db.session()
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Grant, Ban, AuditEvent)
        )


def assert_problem(response: TestResponse, status: int = 400, field: str | None = None) -> str:
    """Check a problem+json answer (and the field it names); return its detail."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    if field is not None:
        assert body.get("field") == field, body
    detail: str = body["detail"]
    return detail


@pytest.fixture
def admin(app: Flask) -> dict[str, str]:
    """Headers of a key with every scope."""
    key = Keys(app).make("admin", "entitlements:read", "tokens:issue")
    return {"Authorization": f"Bearer {key}"}


def post_raw(client: FlaskClient, path: str, data: bytes, headers: dict[str, str]) -> TestResponse:
    return client.post(path, data=data, headers={**headers, "Content-Type": "application/json"})


# ---- JSON bodies ------------------------------------------------------------------------

BODY_PATHS = ["/v1/admin/grants", "/v1/admin/bans", "/v1/accounts/reader-1/tokens"]


@pytest.mark.parametrize("path", BODY_PATHS)
def test_a_duplicate_key_is_refused_naming_it(
    app: Flask, client: FlaskClient, admin: dict[str, str], path: str
) -> None:
    before = rows(app)
    body = b'{"reason": "one", "audience": "a", "reason": "two"}'
    detail = assert_problem(post_raw(client, path, body, admin), field="reason")
    assert "duplicate" in detail
    assert rows(app) == before


@pytest.mark.parametrize("path", BODY_PATHS)
def test_nesting_past_the_limit_is_refused_even_far_past_the_recursion_limit(
    app: Flask, client: FlaskClient, admin: dict[str, str], path: str
) -> None:
    before = rows(app)
    start = b'{"audience": ' if path.endswith("tokens") else b'{"reason": '
    for levels in (MAX_DEPTH, 100_000):
        # The body is level 1: this puts the innermost array at MAX_DEPTH + 1.
        body = start + b"[" * levels + b"]" * levels + b"}"
        detail = assert_problem(post_raw(client, path, body, admin))
        assert f"deeper than {MAX_DEPTH}" in detail
    # One level less is within the limit: refused for what it is, not for its depth.
    inside = start + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert "deeper" not in assert_problem(post_raw(client, path, inside, admin))
    assert rows(app) == before


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"[]", "an array"),
        (b'"x"', "a string"),
        (b"1", "a number"),
        (b"null", "null"),
        (b"true", "a boolean"),
    ],
)
def test_a_body_that_is_not_an_object_is_refused(
    client: FlaskClient, admin: dict[str, str], raw: bytes, kind: str
) -> None:
    detail = assert_problem(post_raw(client, "/v1/admin/grants", raw, admin))
    assert detail == f"the body must be a JSON object, not {kind}"


@pytest.mark.parametrize("raw", [b'{"reason": "\xed\xa0\x80"}', b'{"reason": "\xff"}', b"\xff"])
def test_invalid_utf8_in_a_body_is_refused(
    app: Flask, client: FlaskClient, admin: dict[str, str], raw: bytes
) -> None:
    before = rows(app)
    assert "not valid UTF-8" in assert_problem(post_raw(client, "/v1/admin/bans", raw, admin))
    assert rows(app) == before


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b'{"reason": NaN}', "NaN is not a JSON number"),
        (b'{"reason": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"reason": ', "the body is not valid JSON (send one JSON object)"),
    ],
)
def test_json_that_is_not_json_is_refused(
    client: FlaskClient, admin: dict[str, str], raw: bytes, detail: str
) -> None:
    assert assert_problem(post_raw(client, "/v1/admin/bans", raw, admin)) == detail


def test_the_token_endpoint_still_issues_from_a_plain_body(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    response = post_raw(client, "/v1/accounts/reader-1/tokens", b'{"audience": "site"}', admin)
    assert response.status_code == 201


# ---- text in every field ----------------------------------------------------------------

TEXT_FIELDS = (
    [("/v1/admin/grants", GRANT, name) for name in GRANT]
    + [("/v1/admin/bans", BAN, name) for name in BAN]
    + [
        ("/v1/accounts/reader-1/tokens", {"audience": "site"}, "audience"),
        ("/v1/accounts/reader-1/handoffs", {"next": "/account"}, "next"),
    ]
)


@pytest.mark.parametrize(("path", "body", "name"), TEXT_FIELDS)
@pytest.mark.parametrize("bad", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_bad_text_in_any_body_field_is_refused_naming_it(
    app: Flask,
    client: FlaskClient,
    *,
    admin: dict[str, str],
    path: str,
    body: dict[str, str],
    name: str,
    bad: str,
) -> None:
    before = rows(app)
    response = client.post(path, json={**body, name: bad}, headers=admin)
    assert_problem(response, field=name)
    assert rows(app) == before


def test_bad_text_in_a_key_or_a_nested_value_is_refused(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    assert_problem(client.post("/v1/admin/grants", json={"re\x00ason": "x"}, headers=admin))
    response = client.post("/v1/admin/grants", json={**GRANT, "reason": ["\ud800"]}, headers=admin)
    assert_problem(response, field="reason.0")


def test_the_service_limit_still_speaks_below_the_generic_one(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    response = client.post("/v1/admin/grants", json={**GRANT, "reason": "x" * 2001}, headers=admin)
    assert "at most 2000" in assert_problem(response, field="reason")


QUERIES = [
    ("/v1/admin/accounts", "q"),
    ("/v1/admin/accounts", "cursor"),
    ("/v1/admin/audit", "actor"),
    ("/v1/admin/audit", "action"),
    ("/v1/admin/audit", "account_id"),
    ("/v1/admin/audit", "since"),
    ("/v1/admin/grants", "account_id"),
    ("/v1/admin/grandfather/import", "commit"),
]
RAW_QUERY = {"nul": "%00", "surrogate": "%ED%A0%80", "raw-byte": "\xff", "over-long": "y" * 5000}


@pytest.mark.parametrize(("path", "name"), QUERIES)
@pytest.mark.parametrize("bad", RAW_QUERY.values(), ids=RAW_QUERY.keys())
def test_bad_text_in_a_query_parameter_is_refused_naming_it(
    app: Flask, client: FlaskClient, *, admin: dict[str, str], path: str, name: str, bad: str
) -> None:
    before = rows(app)
    # Set in the environ: %ED%A0%80 must reach the app as it is, and "\xff" as one raw byte.
    response = client.open(
        path,
        method="GET" if "import" not in path else "POST",
        environ_overrides={"QUERY_STRING": f"{name}={bad}"},
        headers=admin,
    )
    assert_problem(response, field=name)
    assert rows(app) == before


def test_a_bad_query_parameter_name_is_refused(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.get("/v1/admin/accounts", query_string="q%00=x", headers=admin)
    assert "name contains a NUL" in assert_problem(response)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/%00/entitlements",
        "/v1/accounts/%ED%A0%80/entitlements",
        "/v1/admin/accounts/a%00b",
        "/v1/admin/grants/%00/revoke",
        "/v1/admin/bans/9999999999999999999999/lift",
    ],
)
def test_bad_text_in_a_path_parameter_is_a_400(
    client: FlaskClient, admin: dict[str, str], path: str
) -> None:
    method = "POST" if path.endswith(("revoke", "lift")) else "GET"
    assert_problem(client.open(path, method=method, headers=admin, json={"reason": "r"}))


@pytest.mark.parametrize(
    "value", ["Bearer \x00", "Bearer ent_sk_\xff\xfe", "Bearer " + "k" * 9000, "\x00"]
)
def test_a_hostile_authorization_header_is_a_401(client: FlaskClient, value: str) -> None:
    for path in ("/v1/accounts/reader-1/entitlements", "/v1/admin/accounts"):
        assert_problem(client.get(path, headers={"Authorization": value}), status=401)


def test_hostile_request_id_and_content_type_headers_are_not_trusted(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    headers = {**admin, "X-Request-Id": "a\x00b\xff", "Content-Type": "application/json\x00;x"}
    response = client.post("/v1/admin/grants", data=b"{}", headers=headers)
    assert_problem(response)
    assert response.headers["X-Request-Id"] != "a\x00b\xff"


# Each example is a request and a database read: 60 in `ci`, 600 in `full`.
@settings(
    max_examples=examples(0.6),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    field=st.sampled_from(sorted(GRANT)),
    value=st.text(st.characters(min_codepoint=0, exclude_categories=()), max_size=40)
    # Surrogates are rare among all of Unicode's code points: draw them often on purpose.
    | st.text(st.sampled_from(["a", " ", "\x00", "\ud800", "\udfff", "\u00e9"]), max_size=8)
    | st.sampled_from(list(BAD_TEXT.values())),
)
def test_no_text_in_an_admin_field_is_answered_500(
    app: Flask, client: FlaskClient, admin: dict[str, str], field: str, value: str
) -> None:
    before = rows(app)
    response = client.post("/v1/admin/grants", json={**GRANT, field: value}, headers=admin)
    assert response.status_code in {201, 400, 422}, response.get_data(as_text=True)[:300]
    assert response.mimetype == PROBLEM or response.status_code == 201
    if response.status_code != 201:
        assert response.get_json().get("field") == field
        assert rows(app) == before


# ---- errors werkzeug raises ---------------------------------------------------------------


def test_405_names_the_allowed_methods_as_problem_json(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    response = client.delete("/v1/admin/grants", headers=admin)
    assert_problem(response, status=405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    response = client.put("/v1/accounts/reader-1/entitlements", headers=admin)
    assert_problem(response, status=405)
    assert "GET" in response.headers["Allow"]


def test_404_413_and_werkzeug_400_are_problem_json(make_app: Any) -> None:
    app = make_app()
    app.add_url_rule("/v1/raise-bad-request", view_func=lambda: abort(400))
    key = Keys(app).make("admin")
    client = app.test_client()
    assert_problem(client.get("/v1/no-such-thing"), status=404)
    assert_problem(client.get("/v1/raise-bad-request"), status=400)
    too_large = b'{"reason": "' + b"x" * (1024 * 1024) + b'"}'
    response = post_raw(client, "/v1/admin/grants", too_large, {"Authorization": f"Bearer {key}"})
    assert_problem(response, status=413)


# ---- the CLI ----------------------------------------------------------------------------


@pytest.fixture
def cli(database_url: str, app: Flask, tmp_path: Path) -> Cli:
    """The console script on this run's database; `app` empties the tables after the test."""
    return Cli(database_url, tmp_path / "cli-instance")


@pytest.mark.parametrize(
    "args",
    [
        ["grants", "add", "reader-1", "--feature", "comment", "--reason", "\udced\udca0\udc80"],
        ["bans", "add", "reader-1", "--feature", "comment", "--reason=bad \udcff"],
        ["grants", "add", "reader-1", "--feature", "comment", "--reason", "x" * (MAX_TEXT + 1)],
        ["grants", "add", "\udcff", "--feature", "comment", "--reason", "r"],
    ],
)
def test_a_cli_argument_breaking_the_text_rules_is_one_line_exit_2(
    app: Flask, cli: Cli, args: list[str]
) -> None:
    before = rows(app)
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert "--reason" in result.stderr or "argument 3" in result.stderr
    assert rows(app) == before


def test_invalid_utf8_bytes_in_a_real_argv_are_one_line_exit_2(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    assert ENTRY_POINT is not None
    before = rows(app)
    env = Cli(database_url, tmp_path / "cli-instance").env()
    argv: list[str | bytes] = [ENTRY_POINT, "grants", "add", "reader-1", "--feature", "comment"]
    argv += ["--reason", b"\xed\xa0\x80"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: --reason is not valid UTF-8")
    assert "Traceback" not in done.stderr
    assert rows(app) == before


# ---- gunicorn, in front of the app ------------------------------------------------------


@pytest.fixture
def served(database_url: str, app: Flask, tmp_path: Path) -> Iterator[tuple[int, str]]:
    """`entitlements serve` with one worker on this run's database; yields its port and a key."""
    key = Keys(app).make("admin")
    env = clean_env(
        ENTITLEMENTS_DATABASE_URL=database_url,
        ENTITLEMENTS_SECRET_KEY=SECRET,
        ENTITLEMENTS_INSTANCE_PATH=str(tmp_path / "instance"),
        ENTITLEMENTS_LOG_LEVEL="WARNING",
    )
    with serve(env, tmp_path, workers=1, ready="/healthz") as server:
        yield server.port, key


def raw_request(port: int, data: bytes) -> tuple[int, str, bytes]:
    """Send bytes as they are; return the status, the Content-Type and the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), body


@pytest.mark.slow
def test_what_gunicorn_refuses_and_what_reaches_the_app(served: tuple[int, str]) -> None:
    port, key = served
    end = b"Host: x\r\nConnection: close\r\n\r\n"
    line = REQUEST_LIMITS["limit_request_line"]
    # Refused by gunicorn before the app, as the README's Operations section says.
    refused = {
        b"GET /healthz?" + b"a" * line + b" HTTP/1.1\r\n" + end: 414,
        b"GET /healthz HTTP/1.1\r\n"
        + b"".join(b"X-%d: 1\r\n" % n for n in range(REQUEST_LIMITS["limit_request_fields"] + 1))
        + end: 431,
        b"GET /healthz HTTP/1.1\r\nX-Big: "
        + b"b" * REQUEST_LIMITS["limit_request_field_size"]
        + b"\r\n"
        + end: 431,
        b"GET /healthz HTTP/1.1\r\nBad Name: 1\r\n" + end: 400,
        b"GET /healthz HTTP/1.1\r\nX-Nul: a\x00b\r\n" + end: 400,
        b"GET /healthz HTTP/9.9\r\n" + end: 400,
        b"GET /healthz HTTP/1.1\r\nX-Folded: a\r\n b\r\n" + end: 400,
        b"POST /healthz HTTP/1.1\r\nTransfer-Encoding: gzip\r\n" + end: 400,
        b"POST /healthz HTTP/1.1\r\nTransfer-Encoding: br, chunked\r\n" + end: 501,
        b"GET /healthz HTTP/1.1\r\nExpect: magic\r\n" + end: 417,
        # Raw bytes past ASCII anywhere in the request line.
        b"GET /healthz?q=\xff HTTP/1.1\r\n" + end: 400,
        b"GET /v1/accounts/\xed\xa0\x80/entitlements HTTP/1.1\r\n" + end: 400,
    }
    for data, status in refused.items():
        assert raw_request(port, data)[0] == status, data[:60]
    # A header named with "_" is dropped: it cannot pose as the one spelled with "-".
    answer = b"GET /healthz HTTP/1.1\r\nX_Request_Id: posed\r\n" + end
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(answer)
        assert b"posed" not in sock.recv(65536)
    # Everything else reaches the app, which answers problem+json naming the field.
    auth = f"Authorization: Bearer {key}\r\n".encode()
    for query in (b"q=%00", b"q=%ED%A0%80", b"q=" + b"q" * 4000):
        data = b"GET /v1/admin/accounts?" + query + b" HTTP/1.1\r\n" + auth + end
        status, content_type, body = raw_request(port, data)
        assert (status, content_type) == (400, PROBLEM), (query[:20], body)
        assert b'"field": "q"' in body
    for path in (b"/v1/accounts/%ED%A0%80/entitlements", b"/v1/admin/accounts/%00"):
        status, content_type, _ = raw_request(port, b"GET " + path + b" HTTP/1.1\r\n" + auth + end)
        assert (status, content_type) == (400, PROBLEM), path


@pytest.mark.parametrize(
    ("path", "content_type", "scope"),
    [
        ("/v1/admin/grants", "application/json", "admin"),
        ("/v1/admin/grandfather/import", "text/csv", "admin"),
        ("/v1/accounts/reader-1/handoffs", "application/json", "tokens:issue"),
    ],
)
def test_a_chunked_body_past_the_limit_is_413_not_cut_short(
    app: Flask, keys: Keys, path: str, content_type: str, scope: str
) -> None:
    limit = 16 * 1024 * 1024 if "import" in path else app.config["MAX_CONTENT_LENGTH"]
    head = (
        b"account_id,last_commented_at\n"
        if content_type == "text/csv"
        else b'{"account_id": "reader-1", "feature": "ad_free", "reason": "x"}'
    )
    body = head + b" " * limit  # valid up to the limit, then more than it allows
    response = app.test_client().post(
        path,
        input_stream=io.BytesIO(body),
        # A streamed (chunked) body: its length is unknown until the server has read it all.
        headers={
            **keys.header(scope),
            "Content-Type": content_type,
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    with app.app_context():
        assert db.session().query(Grant).count() == 0
