"""Console sign-in: passwords, lockout, idle timeout, CSRF, cookie flags, fixation, sign-out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import select

from entitlements import db
from entitlements.admin import auth
from entitlements.admin.views import SIGN_IN_FAILED
from entitlements.config import ConfigError, load_config
from entitlements.models import Admin
from entitlements.services.audit import Actor
from tests.admin.conftest import EMAIL, PASSWORD, Console, make_admin
from tests.conftest import T0, FakeClock

LOCKOUT_MINUTES = 15


def admin_row(app: Flask, email: str = EMAIL) -> Admin:
    with app.app_context():
        row = db.session().scalar(select(Admin).where(Admin.email == email))
        assert row is not None
        return row


def session_cookie(console: Console) -> str:
    cookie = console.client.get_cookie("entitlements_session")
    assert cookie is not None
    return cookie.value


# ---- signing in ------------------------------------------------------------------------------


def test_sign_in_with_the_right_password_opens_the_console(console: Console) -> None:
    response = console.login()
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/accounts"
    page = console.get("/admin/accounts")
    assert page.status_code == 200
    assert EMAIL in page.get_data(as_text=True)
    assert admin_row(console.app).last_login_at == T0
    [event] = console.audit("admin.login")
    assert event.actor == f"admin:{EMAIL}"
    assert event.request_id


def test_email_is_matched_whatever_its_case(console: Console) -> None:
    assert console.login(email="Editor@Example.COM ").status_code == 303


def test_wrong_password_and_unknown_email_get_the_same_answer(console: Console) -> None:
    wrong = console.login(password="not the password at all")
    unknown = console.login(email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 400
    for response in (wrong, unknown):
        assert SIGN_IN_FAILED in response.get_data(as_text=True)
    assert console.get("/admin/accounts").status_code == 303
    failures = console.audit("admin.login_failed")
    assert [e.after for e in failures] == [
        {"reason": "wrong password"},
        {"reason": "unknown email"},
    ]
    assert [e.actor for e in failures] == [f"admin:{EMAIL}", "anonymous"]
    assert all(PASSWORD not in str(e.after) for e in console.audit())


def test_pages_redirect_to_sign_in_and_come_back_after(console: Console) -> None:
    response = console.get("/admin/accounts?q=reader")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/login?next=/admin/accounts?q%3Dreader"
    console.get(response.headers["Location"])
    signed = console.post(
        "/admin/login", {"email": EMAIL, "password": PASSWORD, "next": "/admin/accounts?q=reader"}
    )
    assert signed.headers["Location"] == "/admin/accounts?q=reader"


@pytest.mark.parametrize(
    "target", ["https://evil.example/admin", "//evil.example/admin", "/admin//evil.example", "/x"]
)
def test_sign_in_never_redirects_off_the_console(console: Console, target: str) -> None:
    console.get("/admin/login")
    response = console.post("/admin/login", {"email": EMAIL, "password": PASSWORD, "next": target})
    assert response.headers["Location"] == "/admin/accounts"


def test_a_signed_in_admin_skips_the_sign_in_page(signed_in: Console) -> None:
    response = signed_in.get("/admin/login")
    assert response.status_code == 303


def test_passwords_are_stored_as_argon2id_hashes_only(console: Console) -> None:
    row = admin_row(console.app)
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash


def test_the_production_hasher_uses_rfc_9106_parameters() -> None:
    hasher = PasswordHasher()
    stored = auth.Passwords(hasher).hash("a long enough password")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert auth.Passwords(hasher).verify(stored, "a long enough password")
    assert not auth.Passwords(hasher).verify(stored, "another password!")


# ---- lockout ---------------------------------------------------------------------------------


def test_five_failures_lock_the_account_for_fifteen_minutes(
    console: Console, clock: FakeClock
) -> None:
    for _ in range(auth.MAX_FAILURES):
        assert console.login(password="guess-guess-guess").status_code == 400
    locked = admin_row(console.app).locked_until
    assert locked == T0 + auth.LOCKOUT
    # Locked: even the right password fails, with the same message as any failure.
    response = console.login()
    assert response.status_code == 400
    assert SIGN_IN_FAILED in response.get_data(as_text=True)
    clock.advance(minutes=LOCKOUT_MINUTES - 1)
    assert console.login().status_code == 400
    clock.advance(minutes=1)
    assert console.login().status_code == 303
    reasons = [e.after["reason"] for e in console.audit("admin.login_failed") if e.after]
    assert reasons == ["wrong password"] * auth.MAX_FAILURES + ["locked", "locked"]
    assert console.audit("admin.login_failed")[auth.MAX_FAILURES - 1].after == {
        "reason": "wrong password",
        "locked_until": "2026-01-15T12:15:00Z",
    }
    row = admin_row(console.app)
    assert row.failed_logins == 0
    assert row.locked_until is None


def test_the_lockout_is_kept_in_the_database_for_every_process(
    make_app: Callable[..., Flask], console: Console
) -> None:
    for _ in range(auth.MAX_FAILURES):
        console.login(password="guess-guess-guess")
    other_process = Console(make_app(), make_app().test_client())
    assert other_process.login().status_code == 400


def test_a_success_resets_the_failure_count(console: Console) -> None:
    for _ in range(auth.MAX_FAILURES - 1):
        console.login(password="guess-guess-guess")
    assert console.login().status_code == 303
    assert admin_row(console.app).failed_logins == 0


def test_failures_of_an_unknown_email_lock_nothing(console: Console) -> None:
    for _ in range(auth.MAX_FAILURES + 1):
        console.login(email="nobody@example.com")
    assert console.login().status_code == 303


def test_a_disabled_admin_cannot_sign_in(console: Console) -> None:
    with console.app.app_context():
        session = db.session()
        auth.disable_admin(session, EMAIL, actor=Actor("test"), now=T0)
        session.commit()
    response = console.login()
    assert response.status_code == 400
    assert SIGN_IN_FAILED in response.get_data(as_text=True)


# ---- the session -----------------------------------------------------------------------------


def test_idle_sessions_end_after_the_timeout(signed_in: Console, clock: FakeClock) -> None:
    clock.advance(minutes=29)
    assert signed_in.get("/admin/accounts").status_code == 200
    clock.advance(minutes=29)  # 58 minutes since sign-in, but only 29 idle
    assert signed_in.get("/admin/accounts").status_code == 200
    clock.advance(minutes=30, seconds=1)
    response = signed_in.get("/admin/accounts")
    assert response.status_code == 303
    assert "expired=1" in response.headers["Location"]
    notice = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "without activity" in notice
    assert signed_in.get("/admin/accounts").status_code == 303


def test_the_idle_timeout_is_configurable(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app(ADMIN_IDLE_TIMEOUT="5m")
    make_admin(app)
    console = Console(app, app.test_client())
    console.login()
    clock.advance(minutes=5, seconds=1)
    assert console.get("/admin/accounts").status_code == 303


@pytest.mark.parametrize("value", ["30s", "25h", "soon"])
def test_an_idle_timeout_outside_1m_to_24h_stops_start_up(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_ADMIN_IDLE_TIMEOUT"):
        load_config(
            {"ADMIN_IDLE_TIMEOUT": value, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k" * 40},
            environ={},
        )


def test_a_session_ends_after_twelve_hours_however_active(
    signed_in: Console, clock: FakeClock
) -> None:
    for _ in range(24):
        clock.advance(minutes=29)
        signed_in.get("/admin/audit")
    clock.advance(minutes=29)
    assert signed_in.get("/admin/audit").status_code == 303


def test_sign_out_ends_the_session_and_every_copy_of_its_cookie(signed_in: Console) -> None:
    copied = session_cookie(signed_in)
    response = signed_in.post("/admin/logout")
    assert response.status_code == 303
    assert signed_in.get("/admin/accounts").status_code == 303
    thief = signed_in.app.test_client()
    thief.set_cookie("entitlements_session", copied)
    assert thief.get("/admin/accounts").status_code == 303
    assert [e.actor for e in signed_in.audit("admin.logout")] == [f"admin:{EMAIL}"]


def test_disabling_an_admin_ends_their_open_sessions(signed_in: Console) -> None:
    with signed_in.app.app_context():
        session = db.session()
        auth.disable_admin(session, EMAIL, actor=Actor("test"), now=T0)
        session.commit()
    assert signed_in.get("/admin/accounts").status_code == 303


def test_sign_in_replaces_the_session_it_finds(console: Console) -> None:
    console.get("/admin/login")
    with console.client.session_transaction() as planted:
        planted["planted"] = "by an attacker"
        planted["account_id"] = "reader-1"
    before_cookie, before_token = session_cookie(console), console.token
    console.post("/admin/login", {"email": EMAIL, "password": PASSWORD})
    assert session_cookie(console) != before_cookie
    with console.client.session_transaction() as current:
        assert "planted" not in current
        assert "account_id" not in current
        assert current["csrf"] != before_token
    # The pre-sign-in cookie, replayed, signs nobody in.
    replay = console.app.test_client()
    replay.set_cookie("entitlements_session", before_cookie)
    assert replay.get("/admin/accounts").status_code == 303


def test_a_reader_session_is_not_an_admin_session(console: Console) -> None:
    with console.client.session_transaction() as reader:
        reader["account_id"] = "reader-1"
        reader["admin_id"] = "1"  # a string is not what sign-in stores
    assert console.get("/admin/accounts").status_code == 303


# ---- CSRF and cookies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/admin/logout", {}),
        ("/admin/accounts/reader-1/grants", {"feature": "archive", "reason": "press"}),
        ("/admin/accounts/reader-1/bans", {"feature": "comment", "reason": "spam"}),
    ],
)
def test_a_form_without_the_csrf_token_is_refused(
    signed_in: Console, path: str, data: dict[str, str]
) -> None:
    events = len(signed_in.audit())
    missing = signed_in.client.post(path, data=data)
    wrong = signed_in.client.post(path, data={**data, "csrf": "forged"})
    assert missing.status_code == wrong.status_code == 403
    assert "reload the page" in missing.get_data(as_text=True)
    assert len(signed_in.audit()) == events
    assert signed_in.get("/admin/accounts").status_code == 200


def test_the_sign_in_form_needs_its_csrf_token(console: Console) -> None:
    response = console.client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 403
    assert console.audit("admin.login") == []


def test_the_session_cookie_is_secure_httponly_and_samesite_lax(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(COOKIE_SECURE="true")
    make_admin(app)
    console = Console(app, app.test_client())
    response = console.login()
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if "entitlements_session" in c]
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "secure" in flags
    assert "httponly" in flags
    assert "samesite=lax" in flags
    # A browser-session cookie: no Expires, so closing the browser ends it too.
    assert not any(f.startswith(("expires", "max-age")) for f in flags)


def test_cookies_are_not_secure_when_configured_for_local_http(console: Console) -> None:
    response = console.login()
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if "entitlements_session" in c]
    assert "secure" not in [part.strip().lower() for part in cookie.split(";")]


def test_console_pages_forbid_framing_scripts_and_caching(console: Console) -> None:
    response = console.get("/admin/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script" not in response.get_data(as_text=True)
