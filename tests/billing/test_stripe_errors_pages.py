"""Subscriber pages and operator commands when Stripe fails or lacks what we name.

Our app reaches the emulator through `FlakyStripe` (tests/billing/flaky_stripe.py). Stripe
unavailable is a 503 page or exit 1; nothing is half-written, and a retry succeeds once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from entitlements import db
from entitlements.models import Account, AuditEvent, CheckoutAttempt, StripeEvent, Subscription
from tests.billing.conftest import StripeWorld
from tests.billing.flaky_stripe import FlakyStripe
from tests.billing.test_checkout import csrf, sign_in
from tests.billing.test_lifecycle import ALL, price_id
from tests.billing.test_reconcile import run
from tests.billing.test_webhooks import count


@pytest.fixture
def world_settings(flaky: FlakyStripe) -> dict[str, str]:
    """Our app reaches Stripe only through the proxy."""
    return {"STRIPE_API_BASE": flaky.url}


@pytest.fixture
def world(flaky_world: StripeWorld) -> StripeWorld:
    """The Stripe world, its app behind the proxy."""
    return flaky_world


# ---- subscriber pages: Checkout and the portal ------------------------------------------


def subscribe_form(world: StripeWorld, account_id: str = "reader") -> tuple[Any, dict[str, str]]:
    """A signed-in reader and the form data that chooses the monthly price."""
    client = sign_in(world, account_id)
    page = client.get("/subscribe").get_data(as_text=True)
    return client, {"csrf": csrf(page), "lookup_key": "plus_monthly"}


def test_checkout_stripe_unavailable_is_a_503_page_and_links_no_customer(
    world: StripeWorld, flaky: FlakyStripe
) -> None:
    client, form = subscribe_form(world)
    # The customer is created at Stripe, then creating the session fails.
    flaky.fail("503", only="/v1/checkout/sessions", method="POST")
    response = client.post("/subscribe", data=form)
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert response.headers["Retry-After"] == "5"
    assert flaky.failed == ["POST /v1/checkout/sessions"] * 2
    with world.app.app_context():
        account = db.session().get(Account, "reader")
        assert account is None or account.stripe_customer_id is None
    assert count(world, CheckoutAttempt) == 0
    assert count(world, AuditEvent, AuditEvent.action == "account.link_customer") == 0

    flaky.fail(None)
    retried = client.post("/subscribe", data=form)
    assert retried.status_code == 303
    assert retried.headers["Location"].startswith(world.emulator.url + "/checkout/cs_")
    # The customer's idempotency key made Stripe hand back the first one, not make another.
    mine = [
        c
        for c in world.sdk.v1.customers.list().data
        if c.to_dict().get("metadata") == {"account_id": "reader"}
    ]
    assert len(mine) == 1
    with world.app.app_context():
        account = db.session().get(Account, "reader")
        assert account is not None
        assert account.stripe_customer_id == mine[0].id


def test_checkout_stripe_refuses_is_a_400_page_naming_stripes_reason_and_records_nothing(
    world: StripeWorld, flaky: FlakyStripe
) -> None:
    client, form = subscribe_form(world)
    flaky.fail("400", only="/v1/checkout/sessions", method="POST")
    response = client.post("/subscribe", data=form)
    assert response.status_code == 400
    assert "Stripe refused the checkout: Refused by the proxy" in response.get_data(as_text=True)
    assert flaky.failed == ["POST /v1/checkout/sessions"]  # a 400 is never retried
    assert count(world, CheckoutAttempt) == 0


def test_checkout_reuse_of_a_session_stripe_forgot_starts_a_new_one(world: StripeWorld) -> None:
    # Stripe no longer knows the reader's open session (test data deleted, an emulator
    # restarted without --state): it cannot be paid, so a new one is made, not a 404.
    client, form = subscribe_form(world)
    with world.app.app_context():
        session = db.session()
        now = world.now()
        session.add(Account(id="reader", token_version=0, created_at=now))
        session.add(
            CheckoutAttempt(
                id="cs_test_forgotten",
                account_id="reader",
                lookup_key="plus_monthly",
                url="https://checkout.invalid/forgotten",
                created_at=now,
                expires_at=now + timedelta(hours=23),
            )
        )
        session.commit()
    response = client.post("/subscribe", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"].startswith(world.emulator.url + "/checkout/cs_")
    with world.app.app_context():
        forgotten = db.session().get(CheckoutAttempt, "cs_test_forgotten")
        assert forgotten is not None
        assert forgotten.expires_at <= world.now()  # never offered again
    assert count(world, CheckoutAttempt) == 2


def billing_form(world: StripeWorld) -> tuple[Any, dict[str, str]]:
    client = sign_in(world, "reader", next_page="/account")
    return client, {"csrf": csrf(client.get("/account/billing").get_data(as_text=True))}


def test_portal_stripe_unavailable_is_a_503_page(world: StripeWorld, flaky: FlakyStripe) -> None:
    world.customer_for("reader")
    client, form = billing_form(world)
    flaky.fail("drop", only="/v1/billing_portal/sessions")
    response = client.post("/account/billing", data=form)
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "retry shortly" in response.get_data(as_text=True)
    flaky.fail(None)
    opened = client.post("/account/billing", data=form)
    assert opened.status_code == 303
    assert opened.headers["Location"].startswith(world.emulator.url)


def test_portal_for_a_customer_stripe_does_not_know_is_a_404_page_not_a_500(
    world: StripeWorld,
) -> None:
    with world.app.app_context():
        session = db.session()
        session.add(
            Account(
                id="reader", token_version=0, created_at=world.now(), stripe_customer_id="cus_gone"
            )
        )
        session.commit()
    client, form = billing_form(world)
    response = client.post("/account/billing", data=form)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "No such customer" in response.get_data(as_text=True)


# ---- the operator's commands -------------------------------------------------------------


def test_replay_of_an_event_neither_we_nor_stripe_know_is_a_one_line_error(
    world: StripeWorld,
) -> None:
    result = run(world, "events", "replay", "evt_nowhere")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: No such event: 'evt_nowhere'")
    assert result.stderr.count("\n") == 1
    assert count(world, StripeEvent) == 0


def test_reconcile_with_stripe_unavailable_fails_with_one_line_and_changes_nothing(
    world: StripeWorld, flaky: FlakyStripe
) -> None:
    customer = world.customer_for("lost")
    world.sdk.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": price_id(world, "plus_monthly")}]}
    )
    flaky.fail("500")
    result = run(world, "reconcile", stripe_url=flaky.url)
    assert result.exit_code == 1, result.output
    assert "Stripe is unavailable (APIError); retry shortly" in result.stderr
    assert result.stderr.count("\n") == 1
    assert count(world, Subscription) == 0
    flaky.fail(None)
    assert run(world, "reconcile", stripe_url=flaky.url).exit_code == 0
    assert world.features("lost") == ALL


def test_checkout_when_stripe_sells_no_active_price_for_a_catalog_key_is_a_503_page(
    world: StripeWorld,
) -> None:
    client, form = subscribe_form(world)  # the offer page was built while the price sold
    world.sdk.v1.prices.update(price_id(world, "plus_monthly"), params={"active": False})
    response = client.post("/subscribe", data=form)
    assert response.status_code == 503
    assert "no active price with lookup key" in response.get_data(as_text=True)
    assert count(world, CheckoutAttempt) == 0
    with world.app.app_context():
        account = db.session().get(Account, "reader")
        assert account is None or account.stripe_customer_id is None


def test_billing_portal_before_any_subscription_is_a_400_page(world: StripeWorld) -> None:
    client, form = billing_form(world)
    response = client.post("/account/billing", data=form)
    assert response.status_code == 400
    assert "subscribe first" in response.get_data(as_text=True)


def test_reconcile_skips_an_unplaceable_subscription_and_reports_its_failing_events(
    world: StripeWorld,
) -> None:
    stranger = world.sdk.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    sub = world.sdk.v1.subscriptions.create(
        params={"customer": stranger.id, "items": [{"price": price_id(world, "plus_monthly")}]}
    )
    result = run(world, "reconcile")
    assert result.exit_code == 1, result.output
    assert f"skipped {sub.id}: its customer is not linked to an account" in result.stderr
    assert "not linked to an account yet" in result.stderr  # the events' own 409s
    assert "error evt_" in result.stderr
    assert count(world, Subscription) == 0
    assert count(world, StripeEvent, StripeEvent.status == "failed") >= 1
