"""Hostile forms and query strings on the console, the subscriber pages and /demo.

Each gets an HTML 400 page and writes nothing (not even a sign-in attempt's audit record);
a `next` that would leave the site falls back to a safe page.
"""

from __future__ import annotations

import io
import re
import urllib.parse
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse

from entitlements import db
from entitlements.models import AuditEvent, Ban, Grant
from entitlements.text_rules import MAX_TEXT
from tests.admin.conftest import EMAIL, PASSWORD, Console, csrf_of
from tests.conftest import Keys
from tests.support.responses import json_object

# Values as they travel in a urlencoded form or query string.
RAW = {
    "nul": "%00",
    "inner-nul": "a%00b",
    "surrogate": "%ED%A0%80",
    "invalid-utf8": "%FF",
    "over-long": "x" * (MAX_TEXT + 1),
}


def rows(app: Flask) -> tuple[int, int, int]:
    """Count grants, bans and audit records."""
    with app.app_context():
        session = db.session()
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Grant, Ban, AuditEvent)
        )


def encode(fields: dict[str, str], raw: dict[str, str]) -> str:
    """A urlencoded body: `fields` quoted, `raw` sent exactly as given."""
    parts = [urllib.parse.urlencode(fields)] if fields else []
    parts += [f"{name}={value}" for name, value in raw.items()]
    return "&".join(parts)


def post_form(client: FlaskClient, path: str, body: str) -> TestResponse:
    return client.post(
        path, data=body.encode("latin-1"), content_type="application/x-www-form-urlencoded"
    )


def assert_page_400(response: TestResponse) -> str:
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


# ---- the console --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["email", "password", "next", "csrf"])
@pytest.mark.parametrize("bad", RAW.values(), ids=RAW.keys())
def test_a_bad_sign_in_field_is_a_400_page_and_writes_nothing(
    app: Flask, console: Console, name: str, bad: str
) -> None:
    console.get("/admin/login")
    before = rows(app)
    fields = {"csrf": console.token, "email": EMAIL, "password": PASSWORD, "next": "/admin"}
    del fields[name]
    page = assert_page_400(post_form(console.client, "/admin/login", encode(fields, {name: bad})))
    assert repr(name) in page.replace("&#39;", "'")
    assert rows(app) == before


ACCOUNT_FORMS = [
    ("/admin/accounts/reader-1/grants", {"feature": "comment", "kind": "comp", "reason": "r"}),
    ("/admin/accounts/reader-1/bans", {"feature": "comment", "reason": "r", "until": ""}),
]


@pytest.mark.parametrize(("path", "form"), ACCOUNT_FORMS)
@pytest.mark.parametrize("bad", RAW.values(), ids=RAW.keys())
def test_a_bad_value_in_any_account_form_field_is_a_400_page_and_writes_nothing(
    app: Flask, signed_in: Console, path: str, form: dict[str, str], bad: str
) -> None:
    signed_in.get("/admin/accounts/reader-1")
    before = rows(app)
    for name in form:
        fields = {**form, "csrf": signed_in.token}
        del fields[name]
        response = post_form(signed_in.client, path, encode(fields, {name: bad}))
        assert repr(name) in assert_page_400(response).replace("&#39;", "'")
    assert rows(app) == before


def test_a_bad_value_in_the_grant_change_forms_writes_nothing(
    app: Flask, signed_in: Console
) -> None:
    signed_in.get("/admin/accounts/reader-1")
    created = signed_in.post(
        "/admin/accounts/reader-1/grants", {"feature": "comment", "kind": "comp", "reason": "r"}
    )
    assert created.status_code == 303
    with app.app_context():
        grant_id = db.session().scalar(select(Grant.id))
    signed_in.get("/admin/accounts/reader-1")
    before = rows(app)
    for action in ("extend", "revoke"):
        body = encode({"csrf": signed_in.token, "no_end": "1"}, {"reason": "%00"})
        assert_page_400(post_form(signed_in.client, f"/admin/grants/{grant_id}/{action}", body))
    assert rows(app) == before


def test_an_upload_whose_file_name_holds_a_nul_is_a_400_page(
    app: Flask, signed_in: Console
) -> None:
    signed_in.get("/admin/import")
    before = rows(app)
    data = b"account_id,last_commented_at\nreader-1,2025-01-01T00:00:00Z\n"
    file = FileStorage(io.BytesIO(data), "past\x00commenters.csv", "file")
    response = signed_in.client.post("/admin/import", data={"csrf": signed_in.token, "file": file})
    assert "file name" in assert_page_400(response)
    assert rows(app) == before


@pytest.mark.parametrize(
    "query",
    [
        "/admin/accounts?q=%00",
        "/admin/accounts?after=%ED%A0%80",
        "/admin/audit?actor=a%00",
        "/admin/audit?action=%FF",
        "/admin/audit?since=" + "9" * (MAX_TEXT + 1),
    ],
)
def test_a_bad_console_query_parameter_is_a_400_page(signed_in: Console, query: str) -> None:
    path, _, raw = query.partition("?")
    response = signed_in.client.get(path, environ_overrides={"QUERY_STRING": raw})
    assert_page_400(response)


def test_a_raw_byte_in_a_console_query_string_signed_out_is_a_400_not_a_500(
    console: Console,
) -> None:
    # The sign-in redirect copies the query string into `next`: werkzeug's strict decode of
    # a raw byte there once raised.
    response = console.client.get("/admin/accounts", environ_overrides={"QUERY_STRING": "q=\xff"})
    assert_page_400(response)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "/admin\\..\\evil",
        "https://evil.example/admin",
        "javascript:alert(1)",
        "/admin\r\nSet-Cookie: x=1",
        "/admin\t/evil",
        "/admin//evil.example",
        "/administrator",
        "/admin/\x00",
        "/admin/" + "a" * 3000,
        "",
    ],
)
def test_sign_in_never_follows_next_off_the_console(console: Console, target: str) -> None:
    page = console.get("/admin/login", query_string={"next": target})
    assert page.status_code in {200, 400}
    response = console.post("/admin/login", {"email": EMAIL, "password": PASSWORD, "next": target})
    if response.status_code == 400:
        # NUL is refused as a field before anything else: nothing is signed in or written.
        assert "\x00" in target
        return
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/accounts"


def test_sign_in_follows_next_within_the_console(console: Console) -> None:
    target = "/admin/audit?actor=key%3Aops&action=grant.add"
    console.get("/admin/login", query_string={"next": target})
    response = console.post("/admin/login", {"email": EMAIL, "password": PASSWORD, "next": target})
    assert response.headers["Location"] == target


# ---- subscriber pages and /demo -----------------------------------------------------------


def reader(app: Flask) -> tuple[FlaskClient, str]:
    """Sign a reader in through a hand-off; return the client and the page's CSRF token."""
    client = app.test_client()
    response = client.post(
        "/v1/accounts/reader-1/handoffs",
        headers=Keys(app).header("tokens:issue"),
        json={"next": "/account"},
    )
    url = urllib.parse.urlsplit(json_object(response)["url"])
    assert client.get(f"{url.path}?{url.query}").status_code == 303
    return client, csrf_of(client.get("/account").get_data(as_text=True))


@pytest.mark.parametrize("bad", RAW.values(), ids=RAW.keys())
def test_bad_text_on_the_subscriber_pages_is_a_400_page(app: Flask, bad: str) -> None:
    client, token = reader(app)
    before = rows(app)
    body = encode({"csrf": token}, {"lookup_key": bad})
    assert "lookup_key" in assert_page_400(post_form(client, "/subscribe", body))
    for path, name in (("/subscribe/success", "session_id"), ("/handoff", "token")):
        response = client.get(path, environ_overrides={"QUERY_STRING": f"{name}={bad}"})
        assert response.status_code == 400
        assert response.mimetype == "text/html"
    assert rows(app) == before


@pytest.fixture
def demo_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(DEMO=True)


def demo_token(client: FlaskClient) -> str:
    return csrf_of(client.get("/demo").get_data(as_text=True))


@pytest.mark.parametrize("bad", RAW.values(), ids=RAW.keys())
def test_bad_text_in_the_demo_form_is_a_400_page(demo_app: Flask, bad: str) -> None:
    client = demo_app.test_client()
    for name in ("account_id", "next"):
        fields = {"csrf": demo_token(client), "account_id": "demo-reader", "next": "/account"}
        del fields[name]
        assert_page_400(post_form(client, "/demo/sign-in", encode(fields, {name: bad})))


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example", "/account\r\nX: y", "/\\evil", "/admin"]
)
def test_the_demo_sends_an_off_site_next_to_the_account_page(demo_app: Flask, target: str) -> None:
    client = demo_app.test_client()
    form = {"csrf": demo_token(client), "account_id": "demo-reader", "next": target}
    handoff = client.post("/demo/sign-in", data=form)
    assert handoff.status_code == 303
    landed = client.get(handoff.headers["Location"])
    assert landed.status_code == 303
    assert landed.headers["Location"] == "/account"


def test_no_form_value_is_echoed_raw_into_the_error_page(app: Flask, console: Console) -> None:
    console.get("/admin/login")
    body = encode({"csrf": console.token}, {"email": "<script>%00"})
    page = assert_page_400(post_form(console.client, "/admin/login", body))
    assert "<script>" not in page
    assert re.search(r"email", page)
