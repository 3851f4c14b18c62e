"""Hosted checkout driven with plain form posts, checked through the real SDK and webhooks."""

from __future__ import annotations

import pytest
import stripe

from devstripe import EmulatorState
from devstripe.clock import HOUR
from emulator_support import Receiver, browse, expanded, new_session, pay, unexpanded


def test_card_4242_completes_checkout(
    client: stripe.StripeClient, state: EmulatorState, receiver: Receiver
) -> None:
    sess = new_session(
        client,
        client_reference_id="user-42",
        metadata={"plan": "plus"},
        subscription_data={"metadata": {"user_id": "42"}},
    )
    assert sess.status == "open"
    assert sess.url == f"{state.public_url}/checkout/{sess.id}"

    page = browse(sess.url)
    assert page.status == 200
    for marker in ('id="pay"', "4242 4242 4242 4242", "Plus", "$5.00", 'id="email"'):
        assert marker in page.body
    assert 'href="http://app.test/cancel"' in page.body

    done = pay(sess.url)
    assert done.status == 303
    assert done.location == f"http://app.test/success?session_id={sess.id}"

    sess = client.v1.checkout.sessions.retrieve(sess.id, params={"expand": ["subscription"]})
    assert (sess.status, sess.payment_status) == ("complete", "paid")
    assert sess.client_reference_id == "user-42"
    sub = expanded(sess.subscription, stripe.Subscription)
    assert sub.status == "active"
    assert sub.metadata.to_dict() == {"user_id": "42"}
    item = sub["items"].data[0]
    assert isinstance(item.current_period_end, int)
    assert item.current_period_end > item.current_period_start
    assert item.price.lookup_key == "plus_monthly"
    assert "current_period_end" not in sub.to_dict()

    inv = client.v1.invoices.retrieve(unexpanded(sub.latest_invoice))
    assert (inv.status, inv.amount_paid, inv.billing_reason) == ("paid", 500, "subscription_create")
    assert inv["parent"]["subscription_details"]["subscription"] == sub.id
    assert inv["subscription"] == sub.id  # a field the SDK's types do not list
    # As in the pinned API version: the invoice's payment names the payment intent, and the
    # charge no longer names its invoice.
    assert inv.payments is not None
    payment = inv.payments.data[0].payment
    assert payment.type == "payment_intent"
    (charge,) = client.v1.charges.list(params={"customer": unexpanded(inv.customer)}).data
    assert (charge.status, charge.amount, charge.payment_intent) == (
        "succeeded",
        500,
        payment.payment_intent,
    )
    assert "invoice" not in charge.to_dict()
    intent = unexpanded(charge.payment_intent)
    found = client.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": intent}}
    )
    assert [p.invoice for p in found.data] == [inv.id]

    receiver.wait_for(lambda evs: any(e["type"] == "checkout.session.completed" for e in evs))
    completed = next(e for e in receiver.events if e["type"] == "checkout.session.completed")
    obj = completed["data"]["object"]
    assert (obj["client_reference_id"], obj["subscription"]) == ("user-42", sub.id)
    assert completed["api_version"] == "2026-10-28.endive"
    for etype in (
        "customer.created",
        "customer.subscription.created",
        "invoice.paid",
        "invoice.payment_succeeded",
        "charge.succeeded",
    ):
        assert etype in receiver.types() or state.events(etype)


def test_declined_card_creates_nothing(client: stripe.StripeClient, state: EmulatorState) -> None:
    sess = new_session(client)
    page = pay(sess.url, card="4000 0000 0000 0002")
    assert page.status == 200
    assert "Your card was declined." in page.body
    assert state.list_objects("customer") == []
    assert state.list_objects("subscription") == []
    assert client.v1.checkout.sessions.retrieve(sess.id).status == "open"
    assert "Your card number is incorrect." in pay(sess.url, card="4242 4242 4242 4241").body


def test_authentication_required_then_completed(
    client: stripe.StripeClient, state: EmulatorState
) -> None:
    sess = new_session(client)
    step = pay(sess.url, card="4000002500003155")
    assert step.status == 303
    page = browse(sess.url)
    assert "Complete authentication" in page.body
    assert 'id="fail-auth"' in page.body

    (sub,) = state.list_objects("subscription")
    assert sub["status"] == "incomplete"
    assert state.retrieve(sub["latest_invoice"])["status"] == "open"
    assert state.events("invoice.payment_action_required")

    done = browse(sess.url + "/authenticate", {"action": "complete"})
    assert done.location == f"http://app.test/success?session_id={sess.id}"
    assert client.v1.subscriptions.retrieve(sub["id"]).status == "active"
    assert client.v1.invoices.retrieve(sub["latest_invoice"]).status == "paid"


def test_failed_authentication_expires_after_23_hours(
    client: stripe.StripeClient, state: EmulatorState
) -> None:
    sess = new_session(client)
    pay(sess.url, card="4000002500003155")
    page = browse(sess.url + "/authenticate", {"action": "fail"})
    assert "unable to authenticate" in page.body
    (sub,) = state.list_objects("subscription")
    assert client.v1.subscriptions.retrieve(sub["id"]).status == "incomplete"

    state.advance(22 * HOUR)
    assert client.v1.subscriptions.retrieve(sub["id"]).status == "incomplete"
    state.advance(2 * HOUR)
    sub_now = client.v1.subscriptions.retrieve(sub["id"])
    assert sub_now.status == "incomplete_expired"
    assert sub_now.ended_at is not None
    assert client.v1.invoices.retrieve(sub["latest_invoice"]).status == "void"
    assert state.events("customer.subscription.deleted")


def test_retry_after_failed_authentication_with_another_card(
    client: stripe.StripeClient, state: EmulatorState
) -> None:
    sess = new_session(client)
    pay(sess.url, card="4000002500003155")
    browse(sess.url + "/authenticate", {"action": "fail"})
    done = pay(sess.url, card="4242424242424242")
    assert done.status == 303
    (sub,) = state.list_objects("subscription")
    assert client.v1.subscriptions.retrieve(sub["id"]).status == "active"
    assert client.v1.checkout.sessions.retrieve(sess.id).subscription == sub["id"]


def test_trial_needs_no_payment(client: stripe.StripeClient) -> None:
    sess = new_session(client, subscription_data={"trial_period_days": 14})
    assert "14 days free" in browse(sess.url).body
    assert pay(sess.url).status == 303
    sess = client.v1.checkout.sessions.retrieve(sess.id, params={"expand": ["subscription"]})
    assert sess.payment_status == "no_payment_required"
    sub = expanded(sess.subscription, stripe.Subscription)
    assert sub.status == "trialing"
    assert sub.trial_end is not None
    assert sub.trial_start is not None
    assert sub.trial_end - sub.trial_start == 14 * 86400
    assert sub["items"].data[0].current_period_end == sub.trial_end
    assert client.v1.invoices.retrieve(unexpanded(sub.latest_invoice)).amount_paid == 0


def test_promotion_code_discounts_first_invoice(client: stripe.StripeClient) -> None:
    sess = new_session(client, allow_promotion_codes=True)
    assert 'id="promotion-code"' in browse(sess.url).body
    assert "This code is invalid." in pay(sess.url, promotion_code="NOPE").body
    assert pay(sess.url, promotion_code="welcome10").status == 303
    sess = client.v1.checkout.sessions.retrieve(sess.id, params={"expand": ["invoice"]})
    assert expanded(sess.invoice, stripe.Invoice).amount_paid == 450
    assert sess.total_details is not None
    assert sess.total_details.amount_discount == 50
    promo = client.v1.promotion_codes.list(params={"code": "WELCOME10"}).data[0]
    assert promo.times_redeemed == 1
    assert promo.promotion.coupon == "welcome10"


def test_session_validation_and_expiry(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.checkout.sessions.create(params={"line_items": [{"price": "price_plus_monthly"}]})
    assert exc.value.param == "mode"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        new_session(client, line_items=[{"price": "price_nope", "quantity": 1}])
    assert (exc.value.http_status, exc.value.code) == (404, "resource_missing")
    sess = new_session(client, customer_email="a@example.com")
    expired = client.v1.checkout.sessions.expire(sess.id)
    assert expired.status == "expired"
    assert "This checkout session has expired." in pay(sess.url).body
    items = client.v1.checkout.sessions.line_items.list(new_session(client).id)
    price = items.data[0].price
    assert price is not None
    assert price.id == "price_plus_monthly"


def test_session_level_discount(client: stripe.StripeClient, state: EmulatorState) -> None:
    sess = new_session(client, discounts=[{"promotion_code": "promo_welcome10"}])
    assert (sess.amount_subtotal, sess.amount_total) == (500, 450)
    assert "$4.50" in browse(sess.url).body
    with pytest.raises(stripe.InvalidRequestError):
        new_session(client, discounts=[{"coupon": "welcome10"}], allow_promotion_codes=True)
    assert state.complete_checkout(sess.id) == "complete"
    done = client.v1.checkout.sessions.retrieve(sess.id, params={"expand": ["invoice"]})
    assert expanded(done.invoice, stripe.Invoice).amount_paid == 450
