"""Hand-off sign-in, the Plus offer, Checkout through the emulator's hosted page, the portal."""

from __future__ import annotations

import re
import threading
import urllib.parse
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from entitlements import db
from entitlements.models import Account, CheckoutAttempt
from tests.billing.conftest import StripeWorld
from tests.billing.test_lifecycle import ALL
from tests.support.responses import json_object

ISSUE = "tokens:issue"


def sign_in(world: StripeWorld, account_id: str, next_page: str = "/subscribe") -> FlaskClient:
    """Do what the site's backend does: ask for a hand-off, send the reader through it."""
    client = world.app.test_client()
    response = client.post(
        f"/v1/accounts/{account_id}/handoffs",
        headers=world.keys.header(ISSUE),
        json={"next": next_page, "email": f"{account_id}@example.com"},
    )
    assert response.status_code == 201, response.json
    url = urllib.parse.urlsplit(json_object(response)["url"])
    landing = client.get(f"{url.path}?{url.query}")
    assert landing.status_code == 303
    assert landing.headers["Location"] == next_page
    return client


def csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def choose(client: FlaskClient, lookup_key: str = "plus_monthly") -> Any:
    page = client.get("/subscribe").get_data(as_text=True)
    return client.post("/subscribe", data={"csrf": csrf(page), "lookup_key": lookup_key})


def pay(checkout_url: str, card: str = "4242424242424242") -> tuple[int, str]:
    """Submit the emulator's hosted checkout form; return status and redirect target."""
    sid = checkout_url.rstrip("/").split("/")[-1]
    base = checkout_url.split("/checkout/", maxsplit=1)[0]
    data = urllib.parse.urlencode({"email": "reader@example.com", "card_number": card}).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        response = opener.open(f"{base}/checkout/{sid}/pay", data=data, timeout=10)
        return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def test_offer_page_lists_monthly_and_annual_from_stripe(stripe_world: StripeWorld) -> None:
    client = sign_in(stripe_world, "reader")
    page = client.get("/subscribe").get_data(as_text=True)
    assert 'id="offer-plus_monthly"' in page
    assert 'id="offer-plus_annual"' in page
    assert "$5.00" in page
    assert "$50.00" in page
    assert "<script" not in page


def test_subscribe_pays_and_shows_plus(stripe_world: StripeWorld) -> None:
    world = stripe_world
    client = sign_in(world, "reader")
    response = choose(client)
    assert response.status_code == 303
    checkout_url = response.headers["Location"]
    assert checkout_url.startswith(world.emulator.url + "/checkout/cs_")
    checkout = world.sdk.v1.checkout.sessions.retrieve(checkout_url.split("/")[-1])
    assert checkout.client_reference_id == "reader"
    assert checkout.mode == "subscription"

    status, location = pay(checkout_url)
    assert status == 303
    assert location.startswith(f"{world.app_url}/subscribe/success?session_id=cs_")
    # The success page asks Stripe (not the URL) and shows Plus even before any webhook.
    success = client.get(location.removeprefix(world.app_url))
    assert success.status_code == 200
    assert 'id="welcome">Welcome to Plus' in success.get_data(as_text=True)
    world.deliver()
    assert world.features("reader") == ALL
    account = client.get("/account").get_data(as_text=True)
    assert "Renews on" in account
    assert 'id="manage-billing"' in account


def test_success_url_of_someone_elses_session_grants_nothing(stripe_world: StripeWorld) -> None:
    world = stripe_world
    payer = sign_in(world, "payer")
    checkout_url = choose(payer).headers["Location"]
    _, location = pay(checkout_url)
    freeloader = sign_in(world, "freeloader")
    page = freeloader.get(location.removeprefix(world.app_url)).get_data(as_text=True)
    assert "Welcome to Plus" not in page
    assert "not heard from Stripe" in page
    assert world.features("freeloader") == []


def test_declined_card_creates_no_subscription(stripe_world: StripeWorld) -> None:
    world = stripe_world
    client = sign_in(world, "reader")
    checkout_url = choose(client).headers["Location"]
    status, page = pay(checkout_url, card="4000000000000002")
    assert status == 200
    assert "Your card was declined." in page
    world.deliver()
    assert world.features("reader") == []


def test_price_outside_the_catalog_is_400(stripe_world: StripeWorld) -> None:
    client = sign_in(stripe_world, "reader")
    page = client.get("/subscribe").get_data(as_text=True)
    response = client.post("/subscribe", data={"csrf": csrf(page), "lookup_key": "gold_monthly"})
    assert response.status_code == 400
    assert "plus_monthly" in response.get_data(as_text=True)


def test_form_without_csrf_token_is_refused(stripe_world: StripeWorld) -> None:
    client = sign_in(stripe_world, "reader")
    response = client.post("/subscribe", data={"lookup_key": "plus_monthly"})
    assert response.status_code == 403


def test_a_non_ascii_csrf_token_is_refused_not_a_crash(stripe_world: StripeWorld) -> None:
    client = sign_in(stripe_world, "reader")
    response = client.post(
        "/subscribe", data={"csrf": "\u00e9t\u00e9", "lookup_key": "plus_monthly"}
    )
    assert response.status_code == 403


def test_two_quick_clicks_create_one_session_and_one_customer(stripe_world: StripeWorld) -> None:
    world = stripe_world
    client = sign_in(world, "reader")
    first = choose(client).headers["Location"]
    second = choose(client).headers["Location"]
    assert first == second
    with world.app.app_context():
        attempts = db.session().scalar(select(func.count()).select_from(CheckoutAttempt))
    assert attempts == 1
    assert len(world.state.list_objects("checkout.session")) == 1
    assert len(world.state.list_objects("customer")) == 1


def test_concurrent_clicks_over_http_create_one_session(stripe_world: StripeWorld) -> None:
    world = stripe_world
    client = sign_in(world, "racer")
    page = client.get("/subscribe").get_data(as_text=True)
    token = csrf(page)
    cookie = client.get_cookie("entitlements_session")
    assert cookie is not None
    locations: list[str] = []

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    def click() -> None:
        opener = urllib.request.build_opener(NoRedirect)
        request = urllib.request.Request(
            f"{world.app_url}/subscribe",
            data=urllib.parse.urlencode({"csrf": token, "lookup_key": "plus_annual"}).encode(),
            headers={"Cookie": f"entitlements_session={cookie.value}"},
        )
        try:
            opener.open(request, timeout=20)
        except urllib.error.HTTPError as exc:
            locations.append(exc.headers.get("Location", f"status {exc.code}"))

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(locations) == 4
    assert len(set(locations)) == 1, locations
    assert len(world.state.list_objects("checkout.session")) == 1


def test_a_subscriber_is_sent_to_the_portal_not_a_second_checkout(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    client = sign_in(world, "reader")
    pay(choose(client).headers["Location"])
    world.deliver()
    page = client.get("/subscribe").get_data(as_text=True)
    assert 'id="already"' in page
    response = client.post("/subscribe", data={"csrf": csrf(page), "lookup_key": "plus_annual"})
    assert response.headers["Location"].startswith(world.emulator.url + "/portal/")
    assert len(world.state.list_objects("checkout.session")) == 1


def test_account_billing_opens_the_portal_for_this_customer(stripe_world: StripeWorld) -> None:
    world = stripe_world
    client = sign_in(world, "reader")
    pay(choose(client).headers["Location"])
    world.deliver()
    page = client.get("/account/billing").get_data(as_text=True)
    response = client.post("/account/billing", data={"csrf": csrf(page)})
    assert response.status_code == 303
    portal_id = response.headers["Location"].split("/portal/")[1]
    portal = world.state.retrieve(portal_id)
    with world.app.app_context():
        account = db.session().get(Account, "reader")
        assert account is not None
        assert portal["customer"] == account.stripe_customer_id
    assert portal["return_url"] == f"{world.app_url}/account"


def test_cancel_page_returns_to_the_offer(stripe_world: StripeWorld) -> None:
    client = sign_in(stripe_world, "reader")
    page = client.get("/subscribe/cancel").get_data(as_text=True)
    assert "No charge was made" in page
    assert 'href="/subscribe"' in page


# ---- the hand-off ----------------------------------------------------------------------


def test_pages_need_a_hand_off(stripe_world: StripeWorld) -> None:
    client = stripe_world.app.test_client()
    for path in ("/subscribe", "/account", "/account/billing", "/subscribe/success"):
        response = client.get(path)
        assert response.status_code == 401
        assert "sign in on the magazine" in response.get_data(as_text=True)


def handoff_url(world: StripeWorld) -> str:
    """Return the one-time hand-off URL the API gives for `reader`."""
    client = world.app.test_client()
    response = client.post("/v1/accounts/reader/handoffs", headers=world.keys.header(ISSUE))
    return str(json_object(response)["url"])


def test_hand_off_works_once(stripe_world: StripeWorld) -> None:
    world = stripe_world
    url = handoff_url(world)
    path = url.removeprefix(world.app_url)
    assert world.app.test_client().get(path).status_code == 303
    again = world.app.test_client().get(path)
    assert again.status_code == 400
    assert "already used" in again.get_data(as_text=True)


def test_hand_off_expires_after_two_minutes(stripe_world: StripeWorld) -> None:
    world = stripe_world
    url = handoff_url(world)
    world.state.advance(int(timedelta(minutes=2).total_seconds()))
    response = world.app.test_client().get(url.removeprefix(world.app_url))
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_tampered_hand_off_is_refused(stripe_world: StripeWorld) -> None:
    world = stripe_world
    url = handoff_url(world)
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
    forged = token.replace("reader", "admin") if "reader" in token else token[:-2] + "xx"
    response = world.app.test_client().get(f"/handoff?token={urllib.parse.quote(forged)}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "status"),
    [({"next": "https://evil.example"}, 400), ({"email": "nope"}, 400), ({"x": 1}, 400)],
)
def test_hand_off_request_is_validated(
    stripe_world: StripeWorld, body: dict[str, Any], status: int
) -> None:
    world = stripe_world
    response = world.app.test_client().post(
        "/v1/accounts/reader/handoffs", headers=world.keys.header(ISSUE), json=body
    )
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


def test_hand_off_needs_the_token_scope(stripe_world: StripeWorld) -> None:
    world = stripe_world
    client = world.app.test_client()
    assert client.post("/v1/accounts/reader/handoffs").status_code == 401
    denied = client.post(
        "/v1/accounts/reader/handoffs", headers=world.keys.header("entitlements:read")
    )
    assert denied.status_code == 403


def test_subscribing_again_after_a_cancelled_plan_gets_a_fresh_session(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    client = sign_in(world, "returner")
    first = choose(client).headers["Location"]
    pay(first)
    world.deliver()
    sub_id = world.sdk.v1.subscriptions.list(params={"limit": 1}).data[0].id
    world.sdk.v1.subscriptions.cancel(sub_id)
    world.deliver()
    assert world.features("returner") == []
    again = choose(client).headers["Location"]
    assert again != first
    assert world.sdk.v1.checkout.sessions.retrieve(again.split("/")[-1]).status == "open"
