"""Console sign-in: passwords, lockout, idle timeout, CSRF, cookie flags, fixation, sign-out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import select

from entitlements import db
from entitlements.admin.views import SIGN_IN_FAILED
from entitlements.config import ConfigError, load_config
from entitlements.models import Admin, SignInThrottle
from entitlements.services import admins, sign_in_throttle
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
    # A made-up email is counted against the address, not written to the audit.
    failures = console.audit("admin.login_failed")
    assert [e.after for e in failures] == [{"reason": "wrong password"}]
    assert [e.actor for e in failures] == [f"admin:{EMAIL}"]
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
    stored = admins.Passwords(hasher).hash("a long enough password")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert admins.Passwords(hasher).verify(stored, "a long enough password")
    assert not admins.Passwords(hasher).verify(stored, "another password!")


# ---- lockout ---------------------------------------------------------------------------------

ELSEWHERE = "198.51.100.7"


def console_at(app: Flask, address: str) -> Console:
    """A browser on the console from another client address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Console(app, client)


def throttle_rows(app: Flask) -> dict[str, SignInThrottle]:
    with app.app_context():
        return {row.key: row for row in db.session().scalars(select(SignInThrottle))}


def test_five_failures_lock_the_admin_out_of_that_address_for_fifteen_minutes(
    console: Console, clock: FakeClock
) -> None:
    for _ in range(sign_in_throttle.MAX_FAILURES):
        assert console.login(password="guess-guess-guess").status_code == 400
    pair = throttle_rows(console.app)[f"admin:{admin_row(console.app).id}:127.0.0.1"]
    assert pair.locked_until == T0 + sign_in_throttle.LOCKOUT
    # Locked: even the right password fails, with the same message as any failure.
    response = console.login()
    assert response.status_code == 400
    assert SIGN_IN_FAILED in response.get_data(as_text=True)
    clock.advance(minutes=LOCKOUT_MINUTES - 1)
    assert console.login().status_code == 400
    clock.advance(minutes=1)
    assert console.login().status_code == 303
    # Refused attempts are not audited one by one: the lock was, with its failures.
    reasons = [e.after["reason"] for e in console.audit("admin.login_failed") if e.after]
    assert reasons == ["wrong password"] * sign_in_throttle.MAX_FAILURES
    assert console.audit("admin.login_failed")[-1].after == {
        "reason": "wrong password",
        "locked_until": "2026-01-15T12:15:00Z",
    }
    assert admin_row(console.app).locked_until is None


def test_an_attacker_elsewhere_cannot_lock_the_admin_out_of_their_own_address(
    console: Console,
) -> None:
    attacker = console_at(console.app, ELSEWHERE)
    for _ in range(sign_in_throttle.MAX_FAILURES * 3):
        assert attacker.login(password="guess-guess-guess").status_code == 400
    assert attacker.login().status_code == 400
    assert console.login().status_code == 303


def test_failures_from_many_addresses_lock_new_addresses_but_not_known_ones(
    console: Console, clock: FakeClock
) -> None:
    assert console.login().status_code == 303  # the admin's own address is now known
    addresses = [f"203.0.113.{n}" for n in range(sign_in_throttle.ACCOUNT_FAILURES // 5)]
    for address in addresses:
        attacker = console_at(console.app, address)
        for _ in range(5):
            assert attacker.login(password="guess-guess-guess").status_code == 400
    assert admin_row(console.app).locked_until == T0 + sign_in_throttle.LOCKOUT
    # Brute force stays bounded: a fresh address gets nowhere, even with the password...
    assert console_at(console.app, "192.0.2.44").login().status_code == 400
    # ...while the admin, where they signed in before, still signs in.
    at_home = console_at(console.app, "127.0.0.1")
    assert at_home.login().status_code == 303
    clock.advance(minutes=LOCKOUT_MINUTES)
    assert console_at(console.app, "192.0.2.44").login().status_code == 303


def test_an_address_is_throttled_after_twenty_failures_whatever_the_email(
    console: Console, clock: FakeClock
) -> None:
    sprayer = console_at(console.app, ELSEWHERE)
    for n in range(sign_in_throttle.ADDRESS_FAILURES):
        assert sprayer.login(email=f"guess{n}@example.com").status_code == 400
    assert sprayer.login().status_code == 400  # the right password, from that address
    assert console.login().status_code == 303  # from any other address
    [event] = console.audit("admin.login_throttled")
    assert (event.subject_type, event.subject_id) == ("address", ELSEWHERE)
    assert event.after == {"failures": sign_in_throttle.ADDRESS_FAILURES,
                           "locked_until": "2026-01-15T12:15:00Z"}
    clock.advance(minutes=LOCKOUT_MINUTES)
    assert sprayer.login().status_code == 303


def test_failures_for_made_up_emails_are_counted_not_audited(console: Console) -> None:
    events = len(console.audit())
    for n in range(sign_in_throttle.ADDRESS_FAILURES - 1):
        console_at(console.app, f"2001:db8:0:1::{n + 1}").login(email=f"x{n}@example.com")
    assert len(console.audit()) == events
    # One IPv6 /64 is one client: one row, however many addresses and emails it uses.
    assert {k: r.failures for k, r in throttle_rows(console.app).items()} == {
        "address:2001:db8:0:1::/64": sign_in_throttle.ADDRESS_FAILURES - 1
    }


def test_expired_throttle_rows_are_deleted_by_later_failures(
    console: Console, clock: FakeClock
) -> None:
    for n in range(5):
        console_at(console.app, f"192.0.2.{n + 1}").login(email="nobody@example.com")
    assert len(throttle_rows(console.app)) == 5
    clock.advance(minutes=LOCKOUT_MINUTES + 1)
    console.login(email="nobody@example.com")
    assert list(throttle_rows(console.app)) == ["address:127.0.0.1"]


@pytest.mark.parametrize(
    ("remote", "counted_as"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        (None, "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_client_addresses_are_counted_by_network(remote: str | None, counted_as: str) -> None:
    assert sign_in_throttle.client_network(remote) == counted_as


@pytest.mark.parametrize(
    ("proxies", "forwarded", "counted_as"),
    [
        ("0", "198.51.100.7", "127.0.0.1"),  # no proxy configured: the header is the client's
        ("1", "198.51.100.7", "198.51.100.7"),
        ("1", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # a client-written entry is ignored
        ("2", "198.51.100.7, 10.0.0.2", "198.51.100.7"),
    ],
)
def test_behind_trusted_proxies_the_forwarded_client_address_is_throttled(
    make_app: Callable[..., Flask], proxies: str, forwarded: str, counted_as: str
) -> None:
    app = make_app(TRUSTED_PROXIES=proxies)
    make_admin(app)
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
    Console(app, client).login(email="nobody@example.com")
    assert list(throttle_rows(app)) == [f"address:{counted_as}"]


@pytest.mark.parametrize("value", ["-1", "6", "one", "1.5", "\u0661"])
def test_a_trusted_proxies_count_outside_0_to_5_stops_start_up(
    value: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_TRUSTED_PROXIES"):
        load_config(
            {"TRUSTED_PROXIES": value, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k" * 40},
            environ={},
        )


def test_the_lockout_is_kept_in_the_database_for_every_process(
    make_app: Callable[..., Flask], console: Console
) -> None:
    for _ in range(sign_in_throttle.MAX_FAILURES):
        console.login(password="guess-guess-guess")
    other_process = Console(make_app(), make_app().test_client())
    assert other_process.login().status_code == 400


def test_a_success_resets_the_failure_count(console: Console) -> None:
    for _ in range(sign_in_throttle.MAX_FAILURES - 1):
        console.login(password="guess-guess-guess")
    assert console.login().status_code == 303
    assert admin_row(console.app).failed_logins == 0
    pair = throttle_rows(console.app)[f"admin:{admin_row(console.app).id}:127.0.0.1"]
    assert (pair.failures, pair.signed_in_at) == (0, T0)


def test_failures_of_an_unknown_email_lock_nothing(console: Console) -> None:
    for _ in range(sign_in_throttle.MAX_FAILURES + 1):
        console.login(email="nobody@example.com")
    assert console.login().status_code == 303


def test_a_disabled_admin_cannot_sign_in(console: Console) -> None:
    with console.app.app_context():
        session = db.session()
        admins.disable_admin(session, EMAIL, actor=Actor("test"), now=T0)
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


def _expired_notice_shown(console: Console) -> bool:
    response = console.get("/admin/accounts")
    assert response.status_code == 303
    page = console.get(response.headers["Location"]).get_data(as_text=True)
    return "expired=1" in response.headers["Location"] and "without activity" in page


def test_an_idle_timeout_longer_than_an_hour_is_honoured_to_the_second(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app(ADMIN_IDLE_TIMEOUT="2h")
    make_admin(app)
    console = Console(app, app.test_client())
    console.login()
    clock.advance(hours=2, seconds=-1)
    assert console.get("/admin/accounts").status_code == 200
    clock.advance(hours=2)
    assert console.get("/admin/accounts").status_code == 200
    clock.advance(hours=2, seconds=1)
    assert _expired_notice_shown(console)


def test_a_23_hour_idle_timeout_lasts_until_the_twelve_hour_cap(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app(ADMIN_IDLE_TIMEOUT="23h")
    make_admin(app)
    console = Console(app, app.test_client())
    console.login()
    # Eleven idle hours, then one more: within the idle timeout, up to the cap's last second.
    clock.advance(hours=11)
    assert console.get("/admin/accounts").status_code == 200
    clock.advance(hours=1, seconds=-1)
    assert console.get("/admin/accounts").status_code == 200
    clock.advance(seconds=2)
    assert _expired_notice_shown(console)


def test_a_23_hour_idle_session_shows_the_notice_after_23_hours(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app(ADMIN_IDLE_TIMEOUT="23h")
    make_admin(app)
    console = Console(app, app.test_client())
    console.login()
    clock.advance(hours=23, seconds=1)
    assert _expired_notice_shown(console)


@pytest.mark.parametrize("permanent", [True, False])
def test_a_reader_session_still_ends_an_hour_after_its_last_request(
    app: Flask, clock: FakeClock, permanent: bool
) -> None:
    # Only console sessions outlive Flask's hour; they judge their own idle timeout.
    client = app.test_client()
    with client.session_transaction() as reader:
        reader.permanent = permanent
        reader["account_id"] = "reader-1"
    clock.advance(minutes=59)
    with client.session_transaction() as reader:
        assert reader["account_id"] == "reader-1"
    clock.advance(minutes=61)
    with client.session_transaction() as reader:
        assert "account_id" not in reader


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
        admins.disable_admin(session, EMAIL, actor=Actor("test"), now=T0)
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
