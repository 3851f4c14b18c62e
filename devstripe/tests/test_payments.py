"""Charges, refunds, disputes and invoice payment through the SDK."""

from __future__ import annotations

import pytest
import stripe

from devstripe import EmulatorState
from emulator_support import Receiver, new_session, unexpanded


def _paid_charge(client: stripe.StripeClient, state: EmulatorState) -> stripe.Charge:
    sess = new_session(client)
    assert state.complete_checkout(sess.id) == "complete"
    inv = client.v1.invoices.retrieve(
        unexpanded(client.v1.checkout.sessions.retrieve(sess.id).invoice)
    )
    assert inv.payments is not None
    payment_intent = inv.payments.data[0].payment.payment_intent
    (charge,) = [
        c
        for c in client.v1.charges.list(params={"customer": unexpanded(inv.customer)}).data
        if c.payment_intent == payment_intent
    ]
    return charge


def test_partial_then_full_refund(
    client: stripe.StripeClient, state: EmulatorState, receiver: Receiver
) -> None:
    charge = _paid_charge(client, state)
    part = client.v1.refunds.create(params={"charge": charge.id, "amount": 200})
    assert (part.amount, part.status, part.charge) == (200, "succeeded", charge.id)
    charge = client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (200, False)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.create(params={"charge": charge.id, "amount": 400})
    assert exc.value.param == "amount"

    rest = client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 300
    charge = client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (500, True)
    assert charge.refunds is not None
    assert {r.id for r in charge.refunds.data} == {part.id, rest.id}
    assert [r.id for r in client.v1.refunds.list(params={"charge": charge.id}).data] == [
        rest.id,
        part.id,
    ]
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.create(params={"charge": charge.id})
    assert exc.value.code == "charge_already_refunded"

    receiver.wait_for(lambda evs: [e["type"] for e in evs].count("charge.refunded") == 2)
    last = [e for e in receiver.events if e["type"] == "charge.refunded"][-1]
    assert last["data"]["object"]["refunded"] is True
    assert last["data"]["previous_attributes"] == {"amount_refunded": 200, "refunded": False}
    assert receiver.types().count("refund.created") == 2


def test_dispute_helper(
    client: stripe.StripeClient, state: EmulatorState, receiver: Receiver
) -> None:
    charge = _paid_charge(client, state)
    raw = client.raw_request(
        "post", f"/v1/test_helpers/charges/{charge.id}/dispute", reason="fraudulent"
    )
    dispute = client.deserialize(raw, api_mode="V1")
    assert isinstance(dispute, stripe.Dispute)
    assert (dispute.object, dispute.status, dispute.amount) == ("dispute", "needs_response", 500)
    assert client.v1.charges.retrieve(charge.id).disputed is True
    assert client.v1.disputes.retrieve(dispute.id).charge == charge.id
    assert [d.id for d in client.v1.disputes.list().data] == [dispute.id]
    receiver.wait_for(lambda evs: "charge.dispute.created" in [e["type"] for e in evs])
    with pytest.raises(stripe.InvalidRequestError):
        client.raw_request("post", f"/v1/test_helpers/charges/{charge.id}/dispute")
    assert client.v1.disputes.close(dispute.id).status == "lost"


def test_invoice_pay_failure_raises_card_error(client: stripe.StripeClient) -> None:
    cust = client.v1.customers.create(
        params={
            "payment_method": "pm_card_chargeCustomerFail",
            "invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"},
        }
    )
    sub = client.v1.subscriptions.create(
        params={"customer": cust.id, "items": [{"price": "price_plus_monthly"}]}
    )
    assert sub.status == "incomplete"
    inv = client.v1.invoices.retrieve(unexpanded(sub.latest_invoice))
    assert (inv.status, inv.attempt_count, inv.next_payment_attempt) == ("open", 1, None)
    with pytest.raises(stripe.CardError) as exc:
        client.v1.invoices.pay(inv.id)
    assert exc.value.code == "card_declined"
    paid = client.v1.invoices.pay(inv.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid"
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert [
        i.id for i in client.v1.invoices.list(params={"customer": cust.id, "status": "paid"}).data
    ] == [inv.id]
    with pytest.raises(stripe.CardError):
        client.v1.subscriptions.create(
            params={
                "customer": cust.id,
                "items": [{"price": "price_plus_monthly"}],
                "payment_behavior": "error_if_incomplete",
            }
        )


def test_refund_by_payment_intent_refunds_its_charge(
    client: stripe.StripeClient, state: EmulatorState
) -> None:
    charge = _paid_charge(client, state)
    refund = client.v1.refunds.create(params={"payment_intent": unexpanded(charge.payment_intent)})
    assert (refund.charge, refund.amount, refund.payment_intent) == (
        charge.id,
        charge.amount,
        charge.payment_intent,
    )
    assert client.v1.charges.retrieve(charge.id).refunded is True
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.create(params={"payment_intent": "pi_unknown"})
    assert (exc.value.http_status, exc.value.param) == (404, "payment_intent")


def test_a_retried_refund_with_its_idempotency_key_refunds_once(
    client: stripe.StripeClient, state: EmulatorState
) -> None:
    charge = _paid_charge(client, state)
    params: dict[str, str] = {"payment_intent": str(charge.payment_intent)}
    first = client.v1.refunds.create(params=params, options={"idempotency_key": "refund-1"})  # type: ignore[arg-type]
    again = client.v1.refunds.create(params=params, options={"idempotency_key": "refund-1"})  # type: ignore[arg-type]
    assert first.id == again.id
    assert len(client.v1.refunds.list(params={"charge": charge.id}).data) == 1
