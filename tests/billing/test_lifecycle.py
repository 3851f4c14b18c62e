"""Subscription lifecycles driven by a Stripe test clock, through the real SDK and webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from entitlements import db
from entitlements.models import AuditEvent, ChangeEvent, Subscription
from tests.billing.conftest import StripeWorld

ALL = ["ad_free", "archive", "comment", "digital_edition"]
DAY = 86400


def price_id(world: StripeWorld, lookup_key: str) -> str:
    prices = world.sdk.v1.prices.list(params={"lookup_keys": [lookup_key]})
    return str(prices.data[0].id)


def start_clock(world: StripeWorld) -> str:
    clock = world.sdk.v1.test_helpers.test_clocks.create(
        params={"frozen_time": int(datetime.now(UTC).timestamp())}
    )
    world.clock_id = str(clock.id)
    return world.clock_id


def advance(world: StripeWorld, seconds: int) -> None:
    """Move the test clock forward and deliver what Stripe sent meanwhile."""
    advance_to(world, world.state.now(world.clock_id) + seconds)


def advance_to(world: StripeWorld, frozen: int) -> None:
    """Move the test clock to `frozen` (unix seconds) and deliver what Stripe sent."""
    assert world.clock_id is not None
    world.sdk.v1.test_helpers.test_clocks.advance(world.clock_id, params={"frozen_time": frozen})
    world.deliver()


def subscribe(
    world: StripeWorld, account_id: str, *, trial_days: int = 0, lookup_key: str = "plus_monthly"
) -> str:
    """Create a customer on the test clock and a subscription, as Checkout would."""
    customer = world.customer_for(account_id, test_clock=world.clock_id)
    params: dict[str, Any] = {
        "customer": customer,
        "items": [{"price": price_id(world, lookup_key)}],
        "metadata": {"account_id": account_id},
    }
    if trial_days:
        params["trial_period_days"] = trial_days
    sub = world.sdk.v1.subscriptions.create(params=params)  # type: ignore[arg-type]
    world.deliver()
    return str(sub.id)


def mirror(world: StripeWorld, sub_id: str) -> Subscription:
    with world.app.app_context():
        row = db.session().get(Subscription, sub_id)
        assert row is not None
        return row


def period_end(world: StripeWorld, sub_id: str) -> int:
    sub = world.sdk.v1.subscriptions.retrieve(sub_id)
    return int(sub["items"]["data"][0]["current_period_end"])


def test_trial_renewal_failed_renewal_grace_and_cancellation(stripe_world: StripeWorld) -> None:
    world = stripe_world
    start_clock(world)
    # Stripe retries the failed renewal at +3, +5 and +10 days, then cancels: the last
    # retry comes after our 7-day grace, so "past_due but out of grace" is observable.
    world.state.set_retry_schedule((3, 5, 10))
    sub_id = subscribe(world, "reader", trial_days=7)
    assert mirror(world, sub_id).status == "trialing"
    assert world.features("reader") == ALL

    advance(world, 7 * DAY + 3600)  # trial ends, first invoice paid
    assert mirror(world, sub_id).status == "active"
    assert world.features("reader") == ALL

    renewal = period_end(world, sub_id)
    advance(world, renewal - world.state.now(world.clock_id) + 3600)  # renewal paid
    assert mirror(world, sub_id).status == "active"
    assert mirror(world, sub_id).current_period_end == datetime.fromtimestamp(
        period_end(world, sub_id), UTC
    )
    assert world.features("reader") == ALL

    customer = mirror(world, sub_id).customer_id
    world.state.set_card_fails(customer, True)
    failed_at = period_end(world, sub_id)
    advance(world, failed_at - world.state.now(world.clock_id) + 3600)  # renewal fails
    assert mirror(world, sub_id).status == "past_due"
    assert world.features("reader") == ALL  # inside the 7-day grace
    answer = world.entitlements("reader")
    assert answer["valid_until"] == datetime.fromtimestamp(
        failed_at + 7 * DAY, UTC
    ).isoformat().replace("+00:00", "Z")

    advance_to(world, failed_at + 7 * DAY - 1)  # the second retry failed too; last second
    assert mirror(world, sub_id).status == "past_due"
    assert world.features("reader") == ALL
    advance_to(world, failed_at + 7 * DAY)  # grace over while Stripe still retries
    assert mirror(world, sub_id).status == "past_due"
    assert world.features("reader") == []

    advance_to(world, failed_at + 10 * DAY + 3600)  # last retry fails: Stripe cancels
    row = mirror(world, sub_id)
    assert row.status == "canceled"
    assert row.ended_at is not None
    assert world.features("reader") == []


def test_cancel_at_period_end_entitles_until_the_end_and_not_a_second_after(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    clock_id = start_clock(world)
    sub_id = subscribe(world, "leaver")
    world.sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    world.deliver()
    end = period_end(world, sub_id)
    answer = world.entitlements("leaver")
    assert answer["features"] == ALL
    assert answer["valid_until"] == datetime.fromtimestamp(end, UTC).isoformat().replace(
        "+00:00", "Z"
    )
    advance(world, end - world.state.now(world.clock_id) - 1)
    assert world.features("leaver") == ALL
    # One second later the period is over: no access, even before Stripe's webhook lands.
    world.state.pause_delivery()
    world.sdk.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": end})
    assert world.features("leaver") == []
    world.deliver()
    assert mirror(world, sub_id).status == "canceled"
    assert world.features("leaver") == []


def test_resume_restores_renewal(stripe_world: StripeWorld) -> None:
    world = stripe_world
    start_clock(world)
    sub_id = subscribe(world, "waverer")
    world.sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    world.deliver()
    assert mirror(world, sub_id).cancel_at_period_end is True
    world.sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    world.deliver()
    assert mirror(world, sub_id).cancel_at_period_end is False
    # Both announced as scheduled changes (access itself did not change).
    with world.app.app_context():
        events = db.session().scalars(
            select(ChangeEvent).where(ChangeEvent.account_id == "waverer")
            .order_by(ChangeEvent.sequence)
        ).all()
    assert [(e.type, e.payload["data"]["reason"].rsplit(" ", 1)[-1]) for e in events[-2:]] == [
        ("entitlements.scheduled", "set"), ("entitlements.scheduled", "unset")
    ]
    end = period_end(world, sub_id)
    advance(world, end - world.state.now(world.clock_id) + 3600)
    assert mirror(world, sub_id).status == "active"
    assert world.features("waverer") == ALL


def test_plan_switch_keeps_plus_and_records_the_new_price(stripe_world: StripeWorld) -> None:
    world = stripe_world
    start_clock(world)
    sub_id = subscribe(world, "switcher")
    sub = world.sdk.v1.subscriptions.retrieve(sub_id)
    item = sub["items"]["data"][0]["id"]
    world.sdk.v1.subscriptions.update(
        sub_id, params={"items": [{"id": item, "price": price_id(world, "plus_annual")}]}
    )
    world.deliver()
    assert mirror(world, sub_id).lookup_keys == "plus_annual"
    assert world.entitlements("switcher")["plan"] == "plus"
    assert world.features("switcher") == ALL


def _latest_charge(world: StripeWorld, customer: str) -> str:
    charges = world.sdk.v1.charges.list(params={"customer": customer})
    return str(charges.data[0].id)


def test_full_refund_ends_access_at_once_but_partial_does_not(stripe_world: StripeWorld) -> None:
    world = stripe_world
    start_clock(world)
    sub_id = subscribe(world, "refunded")
    charge = _latest_charge(world, mirror(world, sub_id).customer_id)
    world.sdk.v1.refunds.create(params={"charge": charge, "amount": 100})
    world.deliver()
    assert world.features("refunded") == ALL
    world.sdk.v1.refunds.create(params={"charge": charge})
    world.deliver()
    assert world.features("refunded") == []
    row = mirror(world, sub_id)
    assert row.access_revoked_reason is not None
    assert "refunded" in row.access_revoked_reason
    with world.app.app_context():
        actions = list(
            db.session().scalars(select(AuditEvent.action).where(AuditEvent.subject_id == sub_id))
        )
    assert "subscription.revoke" in actions


@pytest.mark.parametrize("world_settings", [{"CANCEL_ON_REVOKE": "false"}], indirect=True)
def test_a_paid_renewal_after_a_refund_restores_access_when_not_canceled(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    start_clock(world)
    sub_id = subscribe(world, "forgiven")
    charge = _latest_charge(world, mirror(world, sub_id).customer_id)
    world.sdk.v1.refunds.create(params={"charge": charge})
    world.deliver()
    assert world.features("forgiven") == []
    advance_to(world, period_end(world, sub_id) + 3600)  # Stripe renews and the card pays
    assert mirror(world, sub_id).status == "active"
    assert mirror(world, sub_id).access_revoked_at is None
    assert world.features("forgiven") == ALL


def test_dispute_ends_access_at_once(stripe_world: StripeWorld) -> None:
    world = stripe_world
    start_clock(world)
    sub_id = subscribe(world, "disputer")
    charge = _latest_charge(world, mirror(world, sub_id).customer_id)
    world.sdk.raw_request("post", f"/v1/test_helpers/charges/{charge}/dispute")
    world.deliver()
    assert world.features("disputer") == []
    assert "disputed" in (mirror(world, sub_id).access_revoked_reason or "")


@pytest.mark.parametrize("world_settings", [{"REVOKE_ON_REFUND": "false"}], indirect=True)
def test_refund_policy_can_be_turned_off(stripe_world: StripeWorld) -> None:
    world = stripe_world
    start_clock(world)
    sub_id = subscribe(world, "kept")
    charge = _latest_charge(world, mirror(world, sub_id).customer_id)
    world.sdk.v1.refunds.create(params={"charge": charge})
    world.deliver()
    assert world.features("kept") == ALL


def test_stale_period_end_keeps_a_paying_reader_in_for_the_renewal_grace(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    clock_id = start_clock(world)
    sub_id = subscribe(world, "loyal")
    end = period_end(world, sub_id)
    # Stripe renews but its webhooks are lost: the mirror still shows the old period.
    world.state.pause_delivery()
    world.sdk.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": end + 47 * 3600})
    assert world.features("loyal") == ALL
    world.sdk.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": end + 48 * 3600})
    assert world.features("loyal") == []
    # The late webhooks arrive: the renewal is applied and the reader is back in.
    world.deliver()
    assert world.features("loyal") == ALL
    renewed = mirror(world, sub_id).current_period_end
    assert renewed is not None
    assert renewed > datetime.fromtimestamp(end, UTC)
