"""Test clocks and the billing engine: trials, renewals, dunning, cancellation at period end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from devstripe import EmulatorServer, EmulatorState
from devstripe.clock import DAY, HOUR
from emulator_support import (
    API_VERSION,
    WALL_TIME,
    Receiver,
    expanded,
    new_session,
    pay,
    unexpanded,
)

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z


def _subscribe_on_clock(
    client: stripe.StripeClient, **session: Any
) -> tuple[str, stripe.Subscription]:
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0, "name": "t"})
    cust = client.v1.customers.create(params={"email": "c@example.com", "test_clock": clock.id})
    assert cust.created == T0
    sess = new_session(client, customer=cust.id, **session)
    assert pay(sess.url).status == 303
    sub_id = unexpanded(client.v1.checkout.sessions.retrieve(sess.id).subscription)
    return clock.id, client.v1.subscriptions.retrieve(sub_id)


def _advance(client: stripe.StripeClient, clock: str, to: int) -> None:
    tc = client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": to})
    assert (tc.status, tc.frozen_time) == ("ready", to)


def test_trial_renewal_failure_retries_then_cancel(
    client: stripe.StripeClient, state: EmulatorState, receiver: Receiver
) -> None:
    clock, sub = _subscribe_on_clock(
        client, subscription_data={"trial_period_days": 7}, allow_promotion_codes=False
    )
    assert sub.status == "trialing"
    assert sub.test_clock == clock
    trial_end = sub.trial_end
    assert trial_end is not None
    assert trial_end == T0 + 7 * DAY

    _advance(client, clock, trial_end - 2 * DAY)
    assert state.events("customer.subscription.trial_will_end")
    _advance(client, clock, trial_end + HOUR)
    sub = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "active"
    item = sub["items"].data[0]
    latest = expanded(sub.latest_invoice, stripe.Invoice)
    assert (item.current_period_start, latest.status) == (trial_end, "paid")
    assert latest.billing_reason == "subscription_cycle"
    assert latest.created == trial_end

    # First renewal pays; the period moves forward on the item.
    first_end = item.current_period_end
    _advance(client, clock, first_end + HOUR)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub["items"].data[0].current_period_start == first_end
    renewal = client.v1.invoices.retrieve(unexpanded(sub.latest_invoice))
    assert (renewal.status, renewal.billing_reason, renewal.amount_paid) == (
        "paid",
        "subscription_cycle",
        500,
    )

    # Second renewal fails: past_due, then retries at +3, +5, +7 days, then canceled.
    state.set_card_fails(unexpanded(sub.customer))
    second_end = sub["items"].data[0].current_period_end
    _advance(client, clock, second_end + HOUR)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "past_due"
    failed = client.v1.invoices.retrieve(unexpanded(sub.latest_invoice))
    assert (failed.status, failed.attempt_count) == ("open", 1)
    assert failed.next_payment_attempt == second_end + 3 * DAY
    assert client.v1.charges.retrieve(failed["charge"]).status == "failed"  # not in the types

    _advance(client, clock, second_end + 3 * DAY + HOUR)
    failed = client.v1.invoices.retrieve(failed.id)
    assert (failed.attempt_count, failed.next_payment_attempt) == (2, second_end + 5 * DAY)
    _advance(client, clock, second_end + 6 * DAY)
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    _advance(client, clock, second_end + 7 * DAY + HOUR)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled"
    assert sub.ended_at == second_end + 7 * DAY
    assert sub.cancellation_details is not None
    assert sub.cancellation_details.reason == "payment_failed"
    assert client.v1.invoices.retrieve(failed.id).attempt_count == 4

    receiver.wait_for(lambda evs: any(e["type"] == "customer.subscription.deleted" for e in evs))
    types = receiver.types()
    assert types.count("invoice.payment_failed") == 4
    for etype in (
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.updated",
    ):
        assert etype in types
    # Clock-driven events carry the clock's time and no request.
    deleted = next(e for e in receiver.events if e["type"] == "customer.subscription.deleted")
    assert deleted["created"] == second_end + 7 * DAY
    assert deleted["request"] == {"id": None, "idempotency_key": None}


@pytest.fixture
def unpaid_emulator() -> Iterator[EmulatorServer]:
    srv = EmulatorServer(port=0, cancel_behavior="unpaid").start()
    yield srv
    srv.stop()


def test_exhausted_retries_can_leave_subscription_unpaid(unpaid_emulator: EmulatorServer) -> None:
    client = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": unpaid_emulator.url}, stripe_version=API_VERSION
    )
    unpaid_emulator.state.set_retry_schedule((1, 2))
    clock, sub = _subscribe_on_clock(client)
    unpaid_emulator.state.set_card_fails(unexpanded(sub.customer))
    end = sub["items"].data[0].current_period_end
    _advance(client, clock, end + 2 * DAY + HOUR)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "unpaid"
    latest_id = unexpanded(sub.latest_invoice)
    assert client.v1.invoices.retrieve(latest_id).attempt_count == 3

    # A working card and a manual pay bring it back.
    unpaid_emulator.state.set_card_fails(unexpanded(sub.customer), False)
    assert client.v1.invoices.pay(latest_id).status == "paid"
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_cancel_at_period_end(client: stripe.StripeClient, state: EmulatorState) -> None:
    clock, sub = _subscribe_on_clock(client)
    end = sub["items"].data[0].current_period_end
    sub = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert (sub.cancel_at_period_end, sub.cancel_at, sub.status) == (True, end, "active")
    update = state.events("customer.subscription.updated")[-1]
    assert update["data"]["previous_attributes"]["cancel_at_period_end"] is False

    _advance(client, clock, end - HOUR)
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    _advance(client, clock, end + DAY)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert (sub.status, sub.ended_at) == ("canceled", end)
    assert len(client.v1.invoices.list(params={"subscription": sub.id}).data) == 1
    assert state.events("customer.subscription.deleted")[-1]["data"]["object"]["id"] == sub.id


def test_global_clock_and_test_clock_errors(
    client: stripe.StripeClient, state: EmulatorState
) -> None:
    sess = new_session(client)
    pay(sess.url)
    sub = state.list_objects("subscription")[0]
    end = sub["items"]["data"][0]["current_period_end"]
    before = state.now()
    state.advance(end - before + 60)
    assert state.now() >= end + 60
    renewed = client.v1.subscriptions.retrieve(sub["id"])
    assert renewed["items"].data[0].current_period_start == end
    assert client.v1.invoices.list(params={"subscription": sub["id"]}).data[0].created >= end

    tc = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.test_helpers.test_clocks.advance(tc.id, params={"frozen_time": T0 - 1})
    assert exc.value.param == "frozen_time"
    assert client.v1.test_helpers.test_clocks.retrieve(tc.id).status == "ready"
    client.v1.test_helpers.test_clocks.delete(tc.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.test_helpers.test_clocks.retrieve(tc.id)


def test_global_clock_runs_on_the_injected_wall_clock(
    client: stripe.StripeClient, state: EmulatorState
) -> None:
    assert state.now() == int(WALL_TIME)
    assert client.v1.customers.create(params={"email": "a@example.com"}).created == WALL_TIME
    state.advance(90)
    assert state.now() == int(WALL_TIME) + 90
    assert client.v1.customers.create(params={"email": "b@example.com"}).created == WALL_TIME + 90
