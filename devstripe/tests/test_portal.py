"""The billing-portal look-alike page: cancel, renew, switch plan, update card."""

from __future__ import annotations

import stripe

from devstripe import EmulatorState
from devstripe.clock import DAY, HOUR
from emulator_support import browse, expanded, new_session, pay, unexpanded


def _portal(client: stripe.StripeClient, state: EmulatorState) -> tuple[str, str]:
    sess = new_session(client)
    assert state.complete_checkout(sess.id, email="p@example.com") == "complete"
    sub_id = unexpanded(client.v1.checkout.sessions.retrieve(sess.id).subscription)
    cust = unexpanded(client.v1.subscriptions.retrieve(sub_id).customer)
    bps = client.v1.billing_portal.sessions.create(
        params={"customer": cust, "return_url": "http://app.test/account"}
    )
    assert bps.url == f"{state.public_url}/portal/{bps.id}"
    return bps.url, sub_id


def test_portal_cancel_resume_and_switch(client: stripe.StripeClient, state: EmulatorState) -> None:
    url, sub_id = _portal(client, state)
    page = browse(url)
    for marker in (
        'id="cancel"',
        'id="switch"',
        "Switch to annual",
        'id="update-card"',
        'id="return" href="http://app.test/account"',
        "Visa •••• 4242",
        "active",
    ):
        assert marker in page.body

    back = browse(url + "/action", {"action": "cancel"})
    assert back.status == 303
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.cancel_at_period_end is True
    assert sub.cancel_at == sub["items"].data[0].current_period_end
    page = browse(back.location or url)
    assert 'id="resume"' in page.body

    browse(url + "/action", {"action": "resume"})
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert (sub.cancel_at_period_end, sub.cancel_at) == (False, None)

    browse(url + "/action", {"action": "switch"})
    sub = client.v1.subscriptions.retrieve(sub_id, params={"expand": ["latest_invoice"]})
    item = sub["items"].data[0]
    assert item.price.lookup_key == "plus_annual"
    assert item.current_period_end - item.current_period_start >= 365 * DAY
    invoice = expanded(sub.latest_invoice, stripe.Invoice)
    assert invoice.billing_reason == "subscription_update"
    assert invoice.amount_paid == 5000
    assert "Switch to monthly" in browse(url).body


def test_portal_card_update_and_recovery(client: stripe.StripeClient, state: EmulatorState) -> None:
    url, sub_id = _portal(client, state)
    back = browse(url + "/card", {"card_number": "4000000000000002"})
    assert "Your+card+was+declined" in (back.location or "")
    assert "Your card was declined." in browse(back.location or url).body

    browse(url + "/card", {"card_number": "4000 0000 0000 0341"})
    assert "•••• 0341" in browse(url).body
    end = client.v1.subscriptions.retrieve(sub_id)["items"].data[0].current_period_end
    state.advance(end - state.now() + HOUR)
    assert client.v1.subscriptions.retrieve(sub_id).status == "past_due"

    browse(url + "/card", {"card_number": "4242424242424242"})
    sub = client.v1.subscriptions.retrieve(sub_id, params={"expand": ["latest_invoice"]})
    assert sub.status == "active"
    assert expanded(sub.latest_invoice, stripe.Invoice).status == "paid"


def test_portal_without_subscription(client: stripe.StripeClient) -> None:
    cust = client.v1.customers.create(params={"email": "none@example.com"})
    bps = client.v1.billing_portal.sessions.create(params={"customer": cust.id})
    page = browse(bps.url)
    assert 'id="no-plan"' in page.body
    assert "You have no active plan." in page.body
    assert browse(bps.url + "/action", {"action": "cancel"}).status == 303
    assert browse(f"{bps.url}x").status == 404


def test_checkout_cancel_link(client: stripe.StripeClient) -> None:
    sess = new_session(client)
    assert 'id="cancel" href="http://app.test/cancel"' in browse(sess.url).body
    assert pay(sess.url, card="4000000000000341").body.count("Your card was declined.") == 1
