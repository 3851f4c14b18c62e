"""Billing the reader can see: a refund or dispute cancels, and one account pays once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from entitlements import db
from entitlements.billing.stripe_gateway import StripeGateway
from entitlements.models import AuditEvent, CheckoutAttempt, StripeEvent, Subscription
from entitlements.runtime import gateway as app_gateway
from tests.billing.conftest import StripeWorld
from tests.billing.test_checkout import choose, pay, sign_in
from tests.billing.test_lifecycle import (
    ALL,
    DAY,
    advance,
    advance_to,
    mirror,
    period_end,
    price_id,
    start_clock,
    subscribe,
)
from tests.billing.test_reconcile import run
from tests.billing.test_webhooks import body_of, post, signed


def subscribe_and_pay(world: StripeWorld, account_id: str) -> tuple[FlaskClient, str]:
    """Sign in, pay a monthly Checkout Session, deliver; return the client and subscription."""
    client = sign_in(world, account_id)
    status, _ = pay(choose(client).headers["Location"])
    assert status == 303
    world.deliver()
    (sub,) = [s for s in world.state.list_objects("subscription") if s["status"] == "active"]
    return client, str(sub["id"])


def paid_charge(world: StripeWorld, sub_id: str) -> dict[str, Any]:
    """The charge that paid a subscription's latest invoice."""
    invoice = world.state.retrieve(sub_id)["latest_invoice"]
    intent = world.sdk.v1.invoice_payments.list(params={"invoice": invoice}).data[0]
    charges: list[dict[str, Any]] = [
        c
        for c in world.state.list_objects("charge")
        if c["payment_intent"] == intent.payment.payment_intent
    ]
    (charge,) = charges
    return charge


def actions(world: StripeWorld, subject_id: str) -> list[str]:
    with world.app.app_context():
        return list(
            db.session().scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_id == subject_id)
                .order_by(AuditEvent.id)
            )
        )


def renewal_line(page: str) -> str:
    match = re.search(r'<p id="renewal"[^>]*>(.*?)</p>', page, re.S)
    assert match, page
    return " ".join(match.group(1).split())


def today(world: StripeWorld) -> str:
    return world.now().strftime("%B %-d, %Y")


def test_a_full_refund_cancels_the_subscription_and_the_reader_can_buy_again(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    client, sub_id = subscribe_and_pay(world, "refunded")
    assert world.features("refunded") == ALL

    world.sdk.v1.refunds.create(params={"charge": paid_charge(world, sub_id)["id"]})
    world.deliver()

    assert world.state.retrieve(sub_id)["status"] == "canceled"  # Stripe bills no more
    assert world.features("refunded") == []
    assert {"subscription.revoke", "subscription.cancel"} <= set(actions(world, sub_id))
    account = client.get("/account").get_data(as_text=True)
    assert renewal_line(account).startswith(f"Refunded on {today(world)}, access ended.")
    assert "You will not be billed again" in account
    assert 'id="get-plus"' in account

    offer = client.get("/subscribe").get_data(as_text=True)
    assert 'id="already"' not in offer
    assert 'id="offer-plus_monthly"' in offer
    again = choose(client)
    assert again.headers["Location"].startswith(world.emulator.url + "/checkout/cs_")
    assert pay(again.headers["Location"])[0] == 303
    world.deliver()
    assert world.features("refunded") == ALL
    assert "Renews on" in client.get("/account").get_data(as_text=True)


def test_a_dispute_cancels_the_subscription_and_says_so(stripe_world: StripeWorld) -> None:
    world = stripe_world
    client, sub_id = subscribe_and_pay(world, "disputer")
    charge = paid_charge(world, sub_id)["id"]
    world.sdk.raw_request("post", f"/v1/test_helpers/charges/{charge}/dispute")
    world.deliver()
    assert world.state.retrieve(sub_id)["status"] == "canceled"
    account = client.get("/account").get_data(as_text=True)
    assert renewal_line(account).startswith(f"Disputed on {today(world)}, access ended.")
    assert 'id="already"' not in client.get("/subscribe").get_data(as_text=True)


@pytest.mark.parametrize("world_settings", [{"CANCEL_ON_REVOKE": "false"}], indirect=True)
def test_cancel_on_revoke_can_be_turned_off(stripe_world: StripeWorld) -> None:
    world = stripe_world
    client, sub_id = subscribe_and_pay(world, "kept-billing")
    world.sdk.v1.refunds.create(params={"charge": paid_charge(world, sub_id)["id"]})
    world.deliver()
    assert world.state.retrieve(sub_id)["status"] == "active"
    assert world.features("kept-billing") == []
    assert "subscription.cancel" not in actions(world, sub_id)
    account = client.get("/account").get_data(as_text=True)
    assert "has not been canceled" in renewal_line(account)
    # Access ended, so the revoked subscription does not send the reader to the portal.
    assert choose(client).headers["Location"].startswith(world.emulator.url + "/checkout/")


def test_a_new_checkout_session_expires_the_readers_other_open_ones(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    client = sign_in(world, "two-tabs")
    monthly = choose(client, "plus_monthly").headers["Location"].split("/")[-1]
    annual = choose(client, "plus_annual").headers["Location"].split("/")[-1]
    assert world.state.retrieve(monthly)["status"] == "expired"
    assert world.state.retrieve(annual)["status"] == "open"
    with world.app.app_context():
        attempt = db.session().get(CheckoutAttempt, monthly)
        assert attempt is not None
        assert attempt.expires_at <= world.now()
    # Back in the first tab, the reader gets a fresh session, and the other one closes.
    again = choose(client, "plus_monthly").headers["Location"].split("/")[-1]
    assert again not in (monthly, annual)
    assert world.state.retrieve(annual)["status"] == "expired"


def _two_tabs_pay(world: StripeWorld, account_id: str) -> tuple[FlaskClient, str, str]:
    """Pay two sessions before any webhook lands; return the client, older and newer sub."""
    client = sign_in(world, account_id)
    first = choose(client, "plus_monthly").headers["Location"]
    assert pay(first)[0] == 303  # paid, but Stripe's webhooks have not arrived yet
    second = choose(client, "plus_annual").headers["Location"]
    assert second != first
    assert pay(second)[0] == 303
    subs = world.state.list_objects("subscription")
    assert [s["status"] for s in subs] == ["active", "active"]
    older, newer = sorted(subs, key=lambda s: (s["created"], s["id"]))
    return client, str(older["id"]), str(newer["id"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_tabs_that_both_pay_leave_one_subscription_and_refund_the_newer(
    stripe_world: StripeWorld, seed: int
) -> None:
    world = stripe_world
    # Stripe delivers at least once and in any order: every event twice, shuffled.
    world.state.set_chaos(duplicate=1.0, shuffle=True, seed=seed)
    client, older, newer = _two_tabs_pay(world, "two-payments")
    world.deliver()
    world.deliver()

    assert world.state.retrieve(older)["status"] == "active"
    assert world.state.retrieve(newer)["status"] == "canceled"
    charge = paid_charge(world, newer)
    assert charge["refunded"] is True
    assert len(world.sdk.v1.refunds.list(params={"charge": charge["id"]}).data) == 1
    assert paid_charge(world, older)["refunded"] is False
    assert actions(world, newer).count("subscription.refund") == 1
    assert actions(world, newer).count("subscription.cancel") == 1
    with world.app.app_context():
        refund = db.session().scalar(
            select(AuditEvent).where(
                AuditEvent.subject_id == newer, AuditEvent.action == "subscription.refund"
            )
        )
        assert refund is not None
        assert refund.reason == f"duplicate of subscription {older}"
        live = db.session().scalars(select(Subscription.id).where(Subscription.status == "active"))
        assert list(live) == [older]
    assert world.features("two-payments") == ALL
    account = client.get("/account").get_data(as_text=True)
    assert "Renews on" in account
    assert account.count('id="plan"') == 1
    assert "(monthly)" in account  # the older, kept subscription

    # Every event delivered again: nothing more is refunded, canceled or audited.
    for event in world.state.events():
        world.state.resend_event(event["id"])
    world.deliver()
    assert len(world.sdk.v1.refunds.list(params={"charge": charge["id"]}).data) == 1
    assert actions(world, newer).count("subscription.refund") == 1


def test_the_gateway_refunds_and_cancels_once_under_retries(stripe_world: StripeWorld) -> None:
    world = stripe_world
    _, sub_id = subscribe_and_pay(world, "retried")
    invoice = str(world.state.retrieve(sub_id)["latest_invoice"])
    with world.app.app_context():
        gateway = app_gateway()
        first = gateway.refund_invoice(invoice)
        second = gateway.refund_invoice(invoice)  # a retry after our transaction rolled back
        assert [r["id"] for r in first] == [r["id"] for r in second]
        assert gateway.cancel_subscription(sub_id)["status"] == "canceled"
        assert gateway.cancel_subscription(sub_id)["status"] == "canceled"
    charge = paid_charge(world, sub_id)
    assert len(world.sdk.v1.refunds.list(params={"charge": charge["id"]}).data) == 1


def test_canceling_a_subscription_someone_else_canceled_is_not_an_error(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    _, sub_id = subscribe_and_pay(world, "canceled-elsewhere")
    world.sdk.v1.subscriptions.cancel(sub_id)  # the reader, in the portal
    with world.app.app_context():
        # Stripe answers this second cancel 404 "No such subscription".
        assert app_gateway().cancel_subscription(sub_id)["status"] == "canceled"


def refunded_charges(world: StripeWorld) -> list[str]:
    """Ids of every charge the emulator holds with a refund on it."""
    return [str(c["id"]) for c in world.state.list_objects("charge") if c["amount_refunded"]]


def test_an_older_past_due_subscription_gives_way_to_a_newer_active_one(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    start_clock(world)
    older = subscribe(world, "card-failed")  # the first month paid
    customer = mirror(world, older).customer_id
    world.state.set_card_fails(customer, True)
    failed_at = period_end(world, older)
    advance(world, failed_at - world.state.now(world.clock_id) + 3600)  # renewal fails
    assert mirror(world, older).status == "past_due"

    # The reader pays again with a card that works, before Stripe gives up on the old one.
    world.state.set_card_fails(customer, False)
    newer = world.sdk.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": price_id(world, "plus_annual")}]}
    ).id
    world.deliver()
    world.deliver()

    assert world.state.retrieve(newer)["status"] == "active"
    assert world.state.retrieve(older)["status"] == "canceled"
    # Nothing refunded: the new payment is the reader's only good one, the failed renewal
    # took no money, and the month the old subscription paid for was used.
    assert refunded_charges(world) == []
    assert "subscription.refund" not in actions(world, older)
    assert "subscription.cancel" in actions(world, older)
    assert actions(world, newer).count("subscription.cancel") == 0
    with world.app.app_context():
        cancel = db.session().scalar(
            select(AuditEvent).where(
                AuditEvent.subject_id == older, AuditEvent.action == "subscription.cancel"
            )
        )
        assert cancel is not None
        assert cancel.reason == f"duplicate of subscription {newer}"
    advance_to(world, failed_at + 8 * DAY)  # the old subscription's grace would be over
    assert world.features("card-failed") == ALL
    assert mirror(world, newer).status == "active"
    assert refunded_charges(world) == []


def test_the_success_page_syncs_but_leaves_settling_to_the_webhooks(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    client = sign_in(world, "impatient")
    returns = []
    for lookup_key in ("plus_monthly", "plus_annual"):  # two tabs, both paid
        status, location = pay(choose(client, lookup_key).headers["Location"])
        assert status == 303
        returns.append(location.removeprefix(world.app_url))
    for path in returns:
        assert client.get(path).status_code == 200
    subs = sorted(world.state.list_objects("subscription"), key=lambda s: (s["created"], s["id"]))
    older, newer = str(subs[0]["id"]), str(subs[1]["id"])
    # A GET refunds and cancels nothing: those Stripe calls could outlast the worker.
    assert [world.state.retrieve(s)["status"] for s in (older, newer)] == ["active", "active"]
    assert refunded_charges(world) == []
    assert mirror(world, newer).status == "active"

    world.deliver()
    world.deliver()
    assert world.state.retrieve(older)["status"] == "active"
    assert world.state.retrieve(newer)["status"] == "canceled"
    assert refunded_charges(world) == [paid_charge(world, newer)["id"]]


def test_a_crash_after_the_refund_refunds_once_when_the_event_comes_again(
    stripe_world: StripeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = stripe_world
    _, older, newer = _two_tabs_pay(world, "crashed")
    real_cancel = StripeGateway.cancel_subscription
    crashed: list[str] = []

    def cancel_after_a_crash(self: StripeGateway, subscription_id: str) -> dict[str, Any]:
        if not crashed:
            # The worker dies after Stripe refunded, before the cancel and our commit.
            crashed.append(subscription_id)
            raise RuntimeError("worker killed")
        return real_cancel(self, subscription_id)

    monkeypatch.setattr(StripeGateway, "cancel_subscription", cancel_after_a_crash)
    world.deliver()
    assert crashed == [newer]
    with world.app.app_context():
        failed = db.session().scalars(
            select(StripeEvent.status).where(StripeEvent.status == "failed")
        )
        assert list(failed)  # that delivery was answered 5xx, so Stripe sends it again
    charge = paid_charge(world, newer)
    refunds = world.sdk.v1.refunds.list(params={"charge": charge["id"]}).data
    assert len(refunds) == 1
    # Stripe delivers again (every event, twice over): one refund, one cancel, one audit.
    for event in world.state.events():
        world.state.resend_event(event["id"])
    world.deliver()
    world.deliver()
    assert world.state.retrieve(newer)["status"] == "canceled"
    assert world.state.retrieve(older)["status"] == "active"
    assert len(world.sdk.v1.refunds.list(params={"charge": charge["id"]}).data) == 1
    assert actions(world, newer).count("subscription.refund") == 1
    with world.app.app_context():
        audit = db.session().scalar(
            select(AuditEvent).where(
                AuditEvent.subject_id == newer, AuditEvent.action == "subscription.refund"
            )
        )
        assert audit is not None
        assert audit.after is not None
        # The retry got the first refund back through its idempotency key.
        assert audit.after["refunds"] == [refunds[0].id]
        assert audit.after["amount_refunded"] == charge["amount"]
    assert world.features("crashed") == ALL


def test_reconcile_settles_two_paid_subscriptions_the_pages_already_synced(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    client = sign_in(world, "lost-hooks")
    returns = []
    for lookup_key in ("plus_monthly", "plus_annual"):
        status, location = pay(choose(client, lookup_key).headers["Location"])
        assert status == 303
        returns.append(location.removeprefix(world.app_url))
    for path in returns:
        client.get(path)  # both mirrored, exactly as Stripe has them; no webhook arrives
    subs = sorted(world.state.list_objects("subscription"), key=lambda s: (s["created"], s["id"]))
    older, newer = str(subs[0]["id"]), str(subs[1]["id"])

    first = run(world, "reconcile")
    assert first.exit_code == 0, first.output + first.stderr
    assert f"repaired {newer} (lost-hooks): now canceled, a duplicate" in first.stdout
    assert world.state.retrieve(newer)["status"] == "canceled"
    assert world.state.retrieve(older)["status"] == "active"
    assert refunded_charges(world) == [paid_charge(world, newer)["id"]]
    second = run(world, "reconcile")
    assert second.exit_code == 0
    assert "a duplicate" not in second.stdout
    assert actions(world, newer).count("subscription.refund") == 1


def test_a_duplicate_canceled_at_stripe_meanwhile_leaves_the_other_alone(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    client = sign_in(world, "changed-mind")
    returns = []
    for lookup_key in ("plus_monthly", "plus_annual"):
        status, location = pay(choose(client, lookup_key).headers["Location"])
        assert status == 303
        returns.append(location.removeprefix(world.app_url))
    for path in returns:
        client.get(path)  # both mirrored as active
    subs = sorted(world.state.list_objects("subscription"), key=lambda s: (s["created"], s["id"]))
    older, newer = str(subs[0]["id"]), str(subs[1]["id"])
    # The reader cancels the older one in the portal before any webhook has arrived: our
    # mirror still says active, so settling must ask Stripe before choosing.
    world.sdk.v1.subscriptions.cancel(older)
    (created,) = [
        e
        for e in world.state.pending_events()
        if e["type"] == "customer.subscription.created" and e["data"]["object"]["id"] == newer
    ]
    body = body_of(dict(created))
    assert post(world, body, signed(body))[0] == 200  # the newer one's event comes first
    assert world.state.retrieve(newer)["status"] == "active"
    world.deliver()
    world.deliver()
    assert world.state.retrieve(newer)["status"] == "active"
    assert refunded_charges(world) == []
    assert world.features("changed-mind") == ALL


def test_an_older_subscription_set_to_end_gives_way_to_a_newer_renewing_one(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    client = sign_in(world, "switched")
    returns = []
    for lookup_key in ("plus_monthly", "plus_annual"):
        status, location = pay(choose(client, lookup_key).headers["Location"])
        assert status == 303
        returns.append(location.removeprefix(world.app_url))
    subs = sorted(world.state.list_objects("subscription"), key=lambda s: (s["created"], s["id"]))
    older, newer = str(subs[0]["id"]), str(subs[1]["id"])
    # In the portal the reader ends the older one at its period end, before any webhook.
    world.sdk.v1.subscriptions.update(older, params={"cancel_at_period_end": True})
    world.deliver()
    world.deliver()
    # Keeping the older one would leave the reader with nothing once its period ends.
    assert world.state.retrieve(newer)["status"] == "active"
    assert world.state.retrieve(older)["status"] == "canceled"
    assert world.features("switched") == ALL
