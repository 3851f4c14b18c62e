"""Webhooks when Stripe fails on the wire (5xx, 429, a dropped connection) or lacks an object.

Our app reaches the emulator through `FlakyStripe`, a loopback proxy that fails chosen requests;
the tests' own SDK goes to the emulator directly. Unavailable is 503, unknown is 409: both leave
a `failed` stripe_events row and nothing else, and Stripe's retry applies the event once.
(A Stripe that never answers is test_stripe_hangs.py; pages and commands are
test_stripe_errors_pages.py.)
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from werkzeug.test import TestResponse

from entitlements import db
from entitlements.billing.handlers import HANDLERS
from entitlements.models import Account, AuditEvent, StripeEvent, Subscription
from tests.billing.conftest import StripeWorld
from tests.billing.flaky_stripe import FlakyStripe
from tests.billing.test_billing_truth import _two_tabs_pay, paid_charge
from tests.billing.test_lifecycle import ALL, price_id
from tests.billing.test_webhooks import an_event, body_of, count, signed

PATH = "/v1/webhooks/stripe"


@pytest.fixture
def world_settings(flaky: FlakyStripe) -> dict[str, str]:
    """Our app reaches Stripe only through the proxy."""
    return {"STRIPE_API_BASE": flaky.url}


@pytest.fixture
def world(flaky_world: StripeWorld) -> StripeWorld:
    """The Stripe world, its app behind the proxy."""
    return flaky_world


def deliver(world: StripeWorld, body: bytes) -> TestResponse:
    """POST a correctly signed delivery to the webhook endpoint."""
    return world.app.test_client().post(
        PATH, data=body, headers={"Content-Type": "application/json", **signed(body)}
    )


def event_row(world: StripeWorld, event_id: str) -> StripeEvent:
    with world.app.app_context():
        row = db.session().get(StripeEvent, event_id)
        assert row is not None
        db.session().expunge(row)
        return row


def nothing_written_but_the_event(world: StripeWorld) -> None:
    assert count(world, Subscription) == 0
    assert count(world, AuditEvent) == 0
    assert count(world, StripeEvent) == 1


# ---- webhooks: Stripe unavailable -> 503, a failed row, then redelivery applies -----------


@pytest.mark.parametrize(
    ("fault", "cause", "tries"),
    [
        ("500", "APIError", 2),
        ("503", "APIError", 2),
        ("502-html", "APIError", 2),  # a load balancer's page, not Stripe's JSON
        ("429", "RateLimitError", 1),  # the SDK retries 5xx and dropped connections, not 429
        ("drop", "APIConnectionError", 2),
    ],
)
def test_stripe_failing_is_503_and_a_failed_row_then_redelivery_applies_once(
    world: StripeWorld, flaky: FlakyStripe, fault: str, cause: str, tries: int
) -> None:
    event = an_event(world)
    body = body_of(event)
    flaky.fail(fault)
    response = deliver(world, body)
    assert response.status_code == 503, response.json
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert response.json is not None
    assert f"Stripe is unavailable ({cause})" in response.json["detail"]
    assert len(flaky.failed) == tries  # one retry at most (stripe_gateway.MAX_RETRIES)
    row = event_row(world, event["id"])
    assert (row.status, row.attempts) == ("failed", 1)
    assert f"Stripe unavailable: Stripe is unavailable ({cause})" in (row.last_error or "")
    nothing_written_but_the_event(world)

    flaky.fail(None)
    again = deliver(world, body)
    assert again.status_code == 200
    assert again.json is not None
    assert again.json["result"] == "processed"
    row = event_row(world, event["id"])
    assert (row.status, row.attempts, row.last_error) == ("processed", 2, None)
    assert world.features("reader") == ALL
    assert deliver(world, body).json["result"] == "duplicate; already applied"  # type: ignore[index]


@pytest.mark.parametrize(
    ("fault", "cause"), [("401", "AuthenticationError"), ("403", "PermissionError")]
)
def test_stripe_refusing_our_key_is_503_naming_the_setting_then_redelivery_applies(
    world: StripeWorld, flaky: FlakyStripe, fault: str, cause: str
) -> None:
    # A wrong or restricted key is the operator's to fix; Stripe keeps redelivering meanwhile.
    event = an_event(world)
    body = body_of(event)
    flaky.fail(fault)
    response = deliver(world, body)
    assert response.status_code == 503, response.json
    assert response.mimetype == "application/problem+json"
    assert response.json is not None
    detail = response.json["detail"]
    assert f"Stripe refused this service's API key ({cause})" in detail
    assert "ENTITLEMENTS_STRIPE_SECRET_KEY" in detail
    row = event_row(world, event["id"])
    assert (row.status, row.attempts) == ("failed", 1)
    nothing_written_but_the_event(world)

    flaky.fail(None)
    assert deliver(world, body).status_code == 200
    assert world.features("reader") == ALL


def test_a_stripe_failure_after_the_first_write_leaves_no_half_linked_account(
    world: StripeWorld, flaky: FlakyStripe
) -> None:
    # A customer we have not linked yet: the handler creates and links the account, audited,
    # before it re-fetches the subscription, which is what fails here.
    customer = world.sdk.v1.customers.create(
        params={
            "metadata": {"account_id": "newcomer"},
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    world.sdk.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price_id(world, "plus_monthly")}],
        }
    )
    event = next(
        e for e in world.state.pending_events() if e["type"] == "customer.subscription.created"
    )
    body = body_of(event)
    flaky.fail("500", only="/v1/subscriptions/", method="GET")
    response = deliver(world, body)
    assert response.status_code == 503
    assert flaky.failed
    assert all(f.startswith("GET /v1/subscriptions/") for f in flaky.failed)
    assert count(world, Account) == 0  # created, linked and audited, then rolled back
    nothing_written_but_the_event(world)

    flaky.fail(None)
    assert deliver(world, body).status_code == 200
    with world.app.app_context():
        account = db.session().get(Account, "newcomer")
        assert account is not None
        assert account.stripe_customer_id == customer.id
    assert count(world, AuditEvent, AuditEvent.action == "account.link_customer") == 1
    assert world.features("newcomer") == ALL


def test_stripe_refusing_a_re_fetch_is_a_500_with_a_failed_row_and_nothing_else(
    world: StripeWorld, flaky: FlakyStripe
) -> None:
    # A 400 to a plain retrieve means our request was wrong: this service broke, so 500.
    event = an_event(world)
    body = body_of(event)
    flaky.fail("400", only="/v1/subscriptions/", method="GET")
    response = deliver(world, body)
    assert response.status_code == 500
    assert response.json is not None
    assert response.json["detail"] == "handler failed: StripeRejectedError"
    row = event_row(world, event["id"])
    assert (row.status, row.last_error) == ("failed", "handler failed: StripeRejectedError")
    nothing_written_but_the_event(world)
    flaky.fail(None)
    assert deliver(world, body).status_code == 200


# ---- webhooks: an object Stripe does not know -> 409 (Stripe retries), a failed row --------

MISSING = {
    "checkout.session": ("cs_test_missing", "checkout.session"),
    "customer.subscription": ("sub_missing", "subscription"),
    "invoice": ("in_missing", "invoice"),
    "charge.refunded": ("ch_missing", "charge"),
    "charge.dispute": ("dp_missing", "dispute"),
}


def an_event_about(event_type: str, obj: dict[str, Any], event_id: str = "evt_404") -> bytes:
    """A well-formed signed-ready event of `event_type` whose data.object is `obj`."""
    event = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


@pytest.mark.parametrize("event_type", sorted(HANDLERS))
def test_every_handled_type_naming_an_object_stripe_lacks_is_409_and_recorded_failed(
    world: StripeWorld, event_type: str
) -> None:
    object_id, kind = next(v for k, v in MISSING.items() if event_type.startswith(k))
    body = an_event_about(event_type, {"id": object_id, "object": kind})
    response = deliver(world, body)
    assert response.status_code == 409, response.json
    assert response.mimetype == "application/problem+json"
    assert response.json is not None
    detail = response.json["detail"]
    assert detail.startswith("Stripe object not found: ")
    assert object_id in detail  # Stripe's message names what it lacks
    row = event_row(world, "evt_404")
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == detail
    nothing_written_but_the_event(world)
    # Stripe retries: the same row counts the attempts.
    assert deliver(world, body).status_code == 409
    assert event_row(world, "evt_404").attempts == 2


def test_a_subscription_event_for_an_unknown_customer_or_subscription_is_409(
    world: StripeWorld,
) -> None:
    linked = world.customer_for("reader")
    cases = {
        # A customer we have not linked and Stripe does not know: the customer lookup 404s.
        "evt_no_customer": ({"id": "sub_missing", "customer": "cus_missing"}, "cus_missing"),
        # Our reader's customer, a subscription Stripe does not know: the re-fetch 404s.
        "evt_no_subscription": ({"id": "sub_missing", "customer": linked}, "sub_missing"),
    }
    for event_id, (obj, missing) in cases.items():
        body = an_event_about("customer.subscription.updated", obj, event_id)
        response = deliver(world, body)
        assert response.status_code == 409, response.json
        assert missing in response.json["detail"]  # type: ignore[index]
        assert event_row(world, event_id).status == "failed"
    assert count(world, Subscription) == 0
    assert count(world, AuditEvent) == 0


@pytest.mark.parametrize(
    ("customer", "status"),
    [
        (["cus_1"], 409),  # not an id Stripe knows
        (12345, 409),
        (True, 409),
        ({"object": "customer"}, 200),  # an expanded customer without an id: re-fetched instead
        (None, 200),
    ],
)
def test_a_subscription_event_with_a_customer_of_the_wrong_shape_is_never_500(
    world: StripeWorld, customer: Any, status: int
) -> None:
    event = an_event(world)
    event["data"]["object"]["customer"] = customer
    response = deliver(world, body_of(event))
    assert response.status_code == status, response.json
    expected = "failed" if status == 409 else "processed"
    assert event_row(world, event["id"]).status == expected
    assert count(world, Subscription) == (status == 200)


def test_an_event_whose_object_is_of_another_kind_is_409(world: StripeWorld) -> None:
    event = an_event(world)  # customer.subscription.created about a real subscription
    sub_id = event["data"]["object"]["id"]
    body = an_event_about("invoice.paid", {"id": sub_id, "object": "invoice"}, "evt_kind")
    response = deliver(world, body)
    assert response.status_code == 409
    assert f"No such invoice: '{sub_id}'" in response.json["detail"]  # type: ignore[index]
    assert count(world, Subscription) == 0


def test_a_customer_whose_metadata_names_a_malformed_account_is_409_and_retried(
    world: StripeWorld,
) -> None:
    customer = world.sdk.v1.customers.create(
        params={
            "metadata": {"account_id": "not an account id!"},
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    world.sdk.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price_id(world, "plus_monthly")}]}
    )
    event = next(
        e for e in world.state.pending_events() if e["type"] == "customer.subscription.created"
    )
    response = deliver(world, body_of(event))
    assert response.status_code == 409
    assert "names a malformed account id" in response.json["detail"]  # type: ignore[index]
    assert event_row(world, event["id"]).status == "failed"
    assert count(world, Account) == 0
    assert count(world, Subscription) == 0


# ---- settling two paid subscriptions when Stripe fails or has acted already --------------


def test_stripe_unreachable_between_a_duplicates_refund_and_its_cancel_refunds_once(
    world: StripeWorld, flaky: FlakyStripe
) -> None:
    _, older, newer = _two_tabs_pay(world, "two-tabs")
    # The refund goes through; the cancel that follows it never reaches Stripe.
    flaky.fail("drop", only=f"/v1/subscriptions/{newer}", method="DELETE")
    world.deliver()
    assert flaky.failed
    assert 503 in {status for _, _, status in world.state.delivery_log()}
    assert world.state.retrieve(newer)["status"] == "active"
    charge = paid_charge(world, newer)
    assert len(world.sdk.v1.refunds.list(params={"charge": charge["id"]}).data) == 1
    assert count(world, AuditEvent, AuditEvent.action == "subscription.refund") == 0

    flaky.fail(None)
    for event in world.state.events():
        world.state.resend_event(event["id"])
    world.deliver()
    assert world.state.retrieve(newer)["status"] == "canceled"
    assert world.state.retrieve(older)["status"] == "active"
    # The retry's refund came back through its idempotency key: still one refund.
    assert len(world.sdk.v1.refunds.list(params={"charge": charge["id"]}).data) == 1
    assert count(world, AuditEvent, AuditEvent.action == "subscription.refund") == 1
    assert count(world, StripeEvent, StripeEvent.status == "failed") == 0
    assert world.features("two-tabs") == ALL


def test_a_duplicate_an_admin_refunded_at_stripe_first_is_canceled_without_a_second_refund(
    world: StripeWorld,
) -> None:
    _, older, newer = _two_tabs_pay(world, "two-tabs")
    charge = paid_charge(world, newer)
    world.sdk.v1.refunds.create(params={"charge": charge["id"]})  # in the Dashboard
    world.deliver()
    assert {status for _, _, status in world.state.delivery_log()} == {200}
    assert world.state.retrieve(newer)["status"] == "canceled"
    assert world.state.retrieve(older)["status"] == "active"
    assert len(world.sdk.v1.refunds.list(params={"charge": charge["id"]}).data) == 1
    assert world.features("two-tabs") == ALL
