"""Subscriber and console pages: headers, HTML errors, POST-only changes, hand-off secrecy."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.billing.conftest import StripeWorld
from tests.billing.test_checkout import ISSUE, choose, csrf, pay, sign_in
from tests.conftest import SECRET, Keys
from tests.support.responses import json_object
from tests.support.serve import clean_env, free_port, serve

SITE = "https://magazine.example"

PAGES = (
    "/subscribe",
    "/subscribe/success",
    "/subscribe/cancel",
    "/account",
    "/account/billing",
    "/demo",
    "/admin/login",
    "/handoff?token=nope",
    "/account/no-such-page",
    "/admin/no-such-page",
)


@pytest.fixture
def world_settings() -> dict[str, str]:
    """Serve /demo too, and name the magazine's own site."""
    return {"DEMO": "true", "SITE_URL": SITE}


def assert_page_headers(response: TestResponse) -> None:
    """The headers every subscriber and console page sends."""
    policy = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy, response.request.path
    assert response.headers.get("Referrer-Policy") == "no-referrer"
    assert response.headers.get("Cache-Control") == "no-store"
    assert response.headers.get("X-Frame-Options") == "DENY"


def portal_sessions(world: StripeWorld) -> int:
    return len(world.state.list_objects("billing_portal.session"))


def subscribed_reader(world: StripeWorld) -> FlaskClient:
    client = sign_in(world, "reader")
    pay(choose(client).headers["Location"])
    world.deliver()
    return client


# ---- headers and error pages -------------------------------------------------------


def test_every_page_route_sends_the_security_headers(stripe_world: StripeWorld) -> None:
    signed_in = sign_in(stripe_world, "reader")
    anonymous = stripe_world.app.test_client()
    for client in (signed_in, anonymous):
        for path in PAGES:
            response = client.get(path)
            assert response.status_code < 500, path
            assert_page_headers(response)
    # The redirect that carries the hand-off's one-time token sends them too.
    handoff = anonymous.post(
        "/v1/accounts/reader/handoffs", headers=stripe_world.keys.header(ISSUE)
    )
    url = str(json_object(handoff)["url"]).removeprefix(stripe_world.app_url)
    assert_page_headers(anonymous.get(url))


def test_the_api_keeps_its_own_caching(stripe_world: StripeWorld) -> None:
    response = stripe_world.app.test_client().get("/v1/policy")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert "Content-Security-Policy" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/account", 401),
        ("GET", "/subscribe", 401),
        ("GET", "/account/no-such-page", 404),
        ("GET", "/handoff?token=forged", 400),
        ("PUT", "/account", 405),
        ("GET", "/account/sign-out", 405),
        ("GET", "/admin/no-such-page", 404),
        ("DELETE", "/demo", 405),
    ],
)
def test_browsers_get_an_html_error_page_on_page_routes(
    stripe_world: StripeWorld, method: str, path: str, status: int
) -> None:
    response = stripe_world.app.test_client().open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<h1>" in page
    assert f'href="{SITE}"' in page
    assert_page_headers(response)


def test_the_api_still_answers_errors_with_problem_json(stripe_world: StripeWorld) -> None:
    client = stripe_world.app.test_client()
    for path in ("/v1/no-such-thing", "/v1/accounts/reader/entitlements"):
        response = client.get(path)
        assert response.status_code in {401, 404}
        assert response.mimetype == "application/problem+json"


def test_the_magazine_link_goes_to_the_site_on_every_page(stripe_world: StripeWorld) -> None:
    client = sign_in(stripe_world, "reader")
    for path in ("/subscribe", "/account", "/account/billing", "/demo", "/admin/login"):
        page = client.get(path).get_data(as_text=True)
        assert f'<a class="brand" href="{SITE}">MAGAZINE</a>' in page, path


# ---- who is signed in, and signing out -------------------------------------------------


def test_pages_show_who_is_signed_in_with_a_sign_out(stripe_world: StripeWorld) -> None:
    client = sign_in(stripe_world, "reader")
    for path in ("/subscribe", "/account", "/account/billing", "/subscribe/cancel"):
        page = client.get(path).get_data(as_text=True)
        assert "Signed in as <strong>reader</strong> (reader@example.com)" in page, path
        assert 'action="/account/sign-out"' in page


def test_sign_out_needs_a_post_with_the_csrf_token(stripe_world: StripeWorld) -> None:
    client = sign_in(stripe_world, "reader")
    page = client.get("/account").get_data(as_text=True)
    assert client.get("/account/sign-out").status_code == 405
    assert client.post("/account/sign-out").status_code == 403
    assert client.post("/account/sign-out", data={"csrf": "forged"}).status_code == 403
    assert client.get("/account").status_code == 200
    signed_out = client.post("/account/sign-out", data={"csrf": csrf(page)})
    assert signed_out.status_code == 200
    assert "You are signed out" in signed_out.get_data(as_text=True)
    assert "Signed in as" not in signed_out.get_data(as_text=True)
    assert client.get("/account").status_code == 401


# ---- state changes need POST and CSRF ----------------------------------------------------


def test_billing_page_get_creates_no_portal_session(stripe_world: StripeWorld) -> None:
    client = subscribed_reader(stripe_world)
    response = client.get("/account/billing")
    assert response.status_code == 200
    assert 'id="manage-billing"' in response.get_data(as_text=True)
    assert portal_sessions(stripe_world) == 0


def test_billing_post_needs_the_csrf_token(stripe_world: StripeWorld) -> None:
    client = subscribed_reader(stripe_world)
    page = client.get("/account").get_data(as_text=True)
    for data in ({}, {"csrf": "forged"}):
        refused = client.post("/account/billing", data=data)
        assert refused.status_code == 403
        assert refused.mimetype == "text/html"
    assert portal_sessions(stripe_world) == 0
    opened = client.post("/account/billing", data={"csrf": csrf(page)})
    assert opened.status_code == 303
    assert "/portal/" in opened.headers["Location"]
    assert portal_sessions(stripe_world) == 1


def test_checkout_needs_the_csrf_token(stripe_world: StripeWorld) -> None:
    client = sign_in(stripe_world, "reader")
    refused = client.post("/subscribe", data={"lookup_key": "plus_monthly"})
    assert refused.status_code == 403
    assert stripe_world.state.list_objects("checkout.session") == []


# ---- the hand-off link --------------------------------------------------------------------


def test_the_hand_off_url_does_not_carry_the_email(stripe_world: StripeWorld) -> None:
    client = stripe_world.app.test_client()
    email = "reader42@example.com"
    url = json_object(
        client.post(
            "/v1/accounts/reader-42/handoffs",
            headers=stripe_world.keys.header(ISSUE),
            json={"next": "/account", "email": email},
        )
    )["url"]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
    decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for text in (url, urllib.parse.unquote(url)):
        assert "reader42" not in text
        assert "example.com" not in text
    assert b"reader42" not in decoded
    assert b"example.com" not in decoded
    # The email still reaches the session: the page shows it, and Checkout is prefilled with it.
    client.get(url.removeprefix(stripe_world.app_url))
    assert f"({email})" in client.get("/account").get_data(as_text=True)


@pytest.mark.parametrize(
    "token",
    ["", "AAAA", "%C3%A9", "%00", "A" * 5000, base64.urlsafe_b64encode(b"x" * 40).decode(), "!*"],
)
def test_a_malformed_hand_off_token_is_a_400_page(stripe_world: StripeWorld, token: str) -> None:
    response = stripe_world.app.test_client().get(f"/handoff?token={token}")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert 'id="message"' in response.get_data(as_text=True)


# ---- access logs ----------------------------------------------------------------------------


def test_gunicorn_access_log_has_no_query_strings(
    make_app: Callable[..., Flask], database_url: str, tmp_path: Path
) -> None:
    keys = Keys(make_app())
    issue_key = keys.make(ISSUE)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        ENTITLEMENTS_DATABASE_URL=database_url,
        ENTITLEMENTS_SECRET_KEY=SECRET,
        ENTITLEMENTS_INSTANCE_PATH=str(tmp_path / "instance"),
        ENTITLEMENTS_PUBLIC_URL=base,
    )
    with serve(env, tmp_path, workers=1, ready="/healthz", port=port) as server:
        request = urllib.request.Request(
            f"{base}/v1/accounts/reader/handoffs",
            data=b'{"next": "/account"}',
            headers={"Authorization": f"Bearer {issue_key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            url = json.loads(response.read())["url"]
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(url, timeout=10) as landing:
            assert landing.geturl() == f"{base}/account"
    logged = server.log()
    assert token not in logged
    assert "token=" not in logged
    assert '"GET /handoff HTTP/1.1" 303' in logged, logged
    assert issue_key not in logged
