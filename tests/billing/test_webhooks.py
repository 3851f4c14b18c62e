"""POST /v1/webhooks/stripe: authenticity, exactly once, any order, faults, replay."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from sqlalchemy import func, select

from entitlements import db
from entitlements.billing.signature import sign
from entitlements.models import AuditEvent, StripeEvent, Subscription
from tests.billing.conftest import WEBHOOK_SECRET, StripeWorld
from tests.billing.test_lifecycle import (
    ALL,
    advance_to,
    mirror,
    period_end,
    price_id,
    start_clock,
    subscribe,
)

PATH = "/v1/webhooks/stripe"


def post(world: StripeWorld, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST over real HTTP to our running app."""
    request = urllib.request.Request(
        world.app_url + PATH,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    return {"Stripe-Signature": sign(body, secret, int(time.time()) if at is None else at)}


def count(world: StripeWorld, model: Any, *where: Any) -> int:
    with world.app.app_context():
        return int(db.session().scalar(select(func.count()).select_from(model).where(*where)) or 0)


def an_event(world: StripeWorld) -> dict[str, Any]:
    """A genuine pending event about a new subscription (not yet delivered)."""
    start_clock(world)
    customer = world.customer_for("reader", test_clock=world.clock_id)
    world.sdk.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price_id(world, "plus_monthly")}],
        }
    )
    events = [
        e for e in world.state.pending_events() if e["type"] == "customer.subscription.created"
    ]
    assert events
    return dict(events[0])


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, indent=2).encode()


# ---- authenticity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        "body",
        "reserialised",
        "wrong-secret",
        "old",
        "future",
        "missing",
        "malformed",
        "no-v1",
        "empty",
        "unicode-digit",
        "huge-timestamp",
    ],
)
def test_forged_or_stale_deliveries_are_4xx_and_record_nothing(
    stripe_world: StripeWorld, tamper: str
) -> None:
    world = stripe_world
    event = an_event(world)
    body = body_of(event)
    headers = signed(body)
    now = int(time.time())
    if tamper == "body":
        body = body.replace(b'"active"', b'"trialing"')
    elif tamper == "reserialised":
        body = json.dumps(event, separators=(",", ":")).encode()
    elif tamper == "wrong-secret":
        headers = signed(body, secret="whsec_someone_else")
    elif tamper == "old":
        headers = signed(body, at=now - 301)
    elif tamper == "future":
        headers = signed(body, at=now + 301)
    elif tamper == "missing":
        headers = {}
    elif tamper == "malformed":
        headers = {"Stripe-Signature": "garbage"}
    elif tamper == "no-v1":
        headers = {"Stripe-Signature": f"t={now},v0=abc"}
    elif tamper == "unicode-digit":
        headers = {"Stripe-Signature": "t=\u00b2,v1=abc"}
    elif tamper == "huge-timestamp":
        headers = {"Stripe-Signature": "t=1" + "0" * 400 + ",v1=abc"}
    elif tamper == "empty":
        body = b""
    status, problem = post(world, body, headers)
    assert 400 <= status < 500, (status, problem)
    assert problem["status"] == status
    assert count(world, StripeEvent) == 0
    assert count(world, Subscription) == 0


def test_timestamps_inside_the_tolerance_on_both_sides_are_accepted(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    event = an_event(world)
    body = body_of(event)
    assert post(world, body, signed(body, at=int(time.time()) - 290))[0] == 200
    assert post(world, body, signed(body, at=int(time.time()) + 290))[0] == 200


def test_oversized_body_is_413_and_records_nothing(stripe_world: StripeWorld) -> None:
    body = b'{"object": "event", "pad": "' + b"x" * (600 * 1024) + b'"}'
    status, _ = post(stripe_world, body, signed(body))
    assert status == 413
    assert count(stripe_world, StripeEvent) == 0


@pytest.mark.parametrize(
    "world_settings",
    [{"STRIPE_WEBHOOK_SECRET": "whsec_old_one," + WEBHOOK_SECRET}],
    indirect=True,
)
def test_a_rotated_secret_accepts_both_old_and_new(stripe_world: StripeWorld) -> None:
    world = stripe_world
    event = an_event(world)
    body = body_of(event)
    assert post(world, body, signed(body, secret="whsec_old_one"))[0] == 200
    assert post(world, body, signed(body))[0] == 200  # the same event again: a duplicate
    assert count(world, StripeEvent, StripeEvent.status == "processed") == 1


@pytest.mark.parametrize("world_settings", [{"STRIPE_WEBHOOK_SECRET": ""}], indirect=True)
def test_no_secret_configured_refuses_every_delivery(stripe_world: StripeWorld) -> None:
    world = stripe_world
    event = an_event(world)
    body = body_of(event)
    status, problem = post(world, body, signed(body))
    assert status == 400
    assert "no webhook secret" in problem["detail"]
    assert count(world, StripeEvent) == 0


# ---- exactly once, any order ---------------------------------------------------------------


def test_sequential_duplicate_does_nothing_more(stripe_world: StripeWorld) -> None:
    world = stripe_world
    event = an_event(world)
    body = body_of(event)
    first = post(world, body, signed(body))
    second = post(world, body, signed(body))
    assert first == (200, {"received": True, "event_id": event["id"], "result": "processed"})
    assert second[1]["result"] == "duplicate; already applied"
    assert count(world, AuditEvent, AuditEvent.action == "subscription.sync") == 1


def test_twenty_copies_at_once_apply_exactly_once(stripe_world: StripeWorld) -> None:
    world = stripe_world
    event = an_event(world)
    body = body_of(event)
    results: list[tuple[int, dict[str, Any]]] = []
    barrier = threading.Barrier(20)

    def deliver() -> None:
        barrier.wait()
        results.append(post(world, body, signed(body)))

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 20
    assert all(status == 200 for status, _ in results), results
    assert sum(1 for _, body in results if body["result"] == "processed") == 1
    assert count(world, StripeEvent) == 1
    assert count(world, Subscription) == 1
    assert count(world, AuditEvent, AuditEvent.action == "subscription.sync") == 1
    assert world.features("reader") == ALL


def _lifecycle_events(world: StripeWorld) -> tuple[str, list[dict[str, Any]]]:
    """Run a lifecycle with deliveries held back; return the subscription and its events."""
    clock_id = start_clock(world)
    customer = world.customer_for("chaos", test_clock=clock_id)
    sub = world.sdk.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price_id(world, "plus_monthly")}],
        }
    )
    sub_id = str(sub.id)
    world.sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    world.sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    item = world.sdk.v1.subscriptions.retrieve(sub_id)["items"]["data"][0]["id"]
    world.sdk.v1.subscriptions.update(
        sub_id, params={"items": [{"id": item, "price": price_id(world, "plus_annual")}]}
    )
    end = period_end(world, sub_id)
    world.sdk.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": end + 60})
    world.sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    return sub_id, list(world.state.pending_events())


def _assert_mirror_equals_stripe(world: StripeWorld, sub_id: str) -> None:
    truth = world.sdk.v1.subscriptions.retrieve(sub_id)
    row = mirror(world, sub_id)
    assert row.current_period_end is not None
    assert row.status == truth.status
    assert row.cancel_at_period_end == truth.cancel_at_period_end
    assert row.lookup_keys == truth["items"]["data"][0]["price"]["lookup_key"]
    assert (
        int(row.current_period_end.timestamp()) == truth["items"]["data"][0]["current_period_end"]
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_duplicated_delivery_ends_in_stripes_truth(
    stripe_world: StripeWorld, seed: int
) -> None:
    world = stripe_world
    sub_id, events = _lifecycle_events(world)
    assert len(events) >= 6
    rng = random.Random(seed)
    deliveries = events + [rng.choice(events) for _ in range(len(events))]
    rng.shuffle(deliveries)
    for event in deliveries:
        body = body_of(event)
        status, answer = post(world, body, signed(body))
        assert status == 200, answer
    _assert_mirror_equals_stripe(world, sub_id)
    processed = count(world, StripeEvent, StripeEvent.status.in_(["processed", "ignored"]))
    assert processed == len({e["id"] for e in events})


def test_emulator_chaos_switches_shuffle_and_duplicate(stripe_world: StripeWorld) -> None:
    world = stripe_world
    sub_id, events = _lifecycle_events(world)
    world.state.set_chaos(duplicate=1.0, shuffle=True, seed=7)
    world.deliver()
    _assert_mirror_equals_stripe(world, sub_id)
    assert count(world, StripeEvent) == len({e["id"] for e in events})


# ---- faults and replay -----------------------------------------------------------------


def test_a_fault_after_the_first_write_leaves_nothing_and_redelivery_applies_once(
    stripe_world: StripeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from entitlements.billing import sync
    from entitlements.services import audit

    world = stripe_world
    event = an_event(world)
    body = body_of(event)
    real_record = audit.record  # what sync calls, under the name the fault replaces
    calls = {"n": 0}

    def failing_record(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected fault after the subscription row was written")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(sync, "record", failing_record)
    status, problem = post(world, body, signed(body))
    assert status == 500
    assert "handler failed" in problem["detail"]
    assert count(world, Subscription) == 0
    assert count(world, AuditEvent) == 0
    assert count(world, StripeEvent, StripeEvent.status == "failed") == 1

    status, answer = post(world, body, signed(body))
    assert (status, answer["result"]) == (200, "processed")
    assert count(world, Subscription) == 1
    assert count(world, AuditEvent, AuditEvent.action == "subscription.sync") == 1
    with world.app.app_context():
        row = db.session().get(StripeEvent, event["id"])
        assert row is not None
        assert (row.status, row.attempts, row.last_error) == ("processed", 2, None)


def test_event_for_an_unplaceable_customer_is_retryable_not_dropped(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    start_clock(world)
    stranger = world.sdk.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    world.sdk.v1.subscriptions.create(
        params={
            "customer": stranger.id,
            "items": [{"price": price_id(world, "plus_monthly")}],
        }
    )
    event = next(
        e for e in world.state.pending_events() if e["type"] == "customer.subscription.created"
    )
    body = body_of(event)
    status, problem = post(world, body, signed(body))
    assert status == 409
    assert "not linked" in problem["detail"]
    assert count(world, StripeEvent, StripeEvent.status == "failed") == 1
    # Once the customer is linked (the account checks out), Stripe's retry succeeds.
    world.sdk.v1.customers.update(stranger.id, params={"metadata": {"account_id": "late"}})
    assert post(world, body, signed(body))[0] == 200
    assert world.features("late") == ALL


def test_unhandled_types_and_other_modes_are_recorded_and_ignored(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    event = an_event(world)
    other = {**event, "id": "evt_unhandled", "type": "customer.discount.created"}
    live = {**event, "id": "evt_live", "livemode": True}
    for item in (other, live):
        body = body_of(item)
        status, answer = post(world, body, signed(body))
        assert (status, answer["result"]) == (200, "ignored")
    assert count(world, StripeEvent, StripeEvent.status == "ignored") == 2
    assert count(world, Subscription) == 0


def test_past_due_renewal_end_to_end_over_emulator_delivery(stripe_world: StripeWorld) -> None:
    world = stripe_world
    start_clock(world)
    sub_id = subscribe(world, "late-payer")
    world.state.set_card_fails(mirror(world, sub_id).customer_id, True)
    advance_to(world, period_end(world, sub_id) + 60)
    assert mirror(world, sub_id).status == "past_due"
    assert world.features("late-payer") == ALL
