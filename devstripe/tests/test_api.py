"""The `/v1` surface through the real SDK: auth, errors, idempotency, lists, expand, objects."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
import stripe

from devstripe import EmulatorServer, EmulatorState
from emulator_support import API_VERSION, expanded, new_session, unexpanded


def test_authentication(emulator: EmulatorServer) -> None:
    for key in ("sk_live_nope", "pk_test_nope"):
        bad = stripe.StripeClient(key, base_addresses={"api": emulator.url})
        with pytest.raises(stripe.AuthenticationError):
            bad.v1.customers.list()
    req = urllib.request.Request(f"{emulator.url}/v1/customers")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    with exc.value as err:
        assert err.code == 401
        body = json.loads(err.read())
    assert body["error"]["type"] == "invalid_request_error"


def test_errors_have_stripe_shape(client: stripe.StripeClient, emulator: EmulatorServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.customers.retrieve("cus_missing")
    assert (exc.value.http_status, exc.value.code, exc.value.param) == (
        404,
        "resource_missing",
        "id",
    )
    assert "No such customer: 'cus_missing'" in str(exc.value)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.prices.create(params={"currency": "usd", "product": "prod_plus"})
    assert (exc.value.code, exc.value.param) == ("parameter_missing", "unit_amount")
    with pytest.raises(stripe.CardError) as card:
        client.v1.customers.create(params={"payment_method": "pm_card_chargeDeclined"})
    assert card.value.code == "card_declined"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.raw_request("get", "/v1/nothing_here")
    assert "Unrecognized request URL" in str(exc.value)


def test_idempotency(client: stripe.StripeClient) -> None:
    opts: stripe.RequestOptions = {"idempotency_key": "idem-1"}
    first = client.v1.customers.create(params={"email": "i@example.com"}, options=opts)
    again = client.v1.customers.create(params={"email": "i@example.com"}, options=opts)
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"email": "other@example.com"}, options=opts)
    assert len(client.v1.customers.list(params={"limit": 100}).data) == 1


def test_pagination(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create(params={"email": f"p{i}@example.com"}).id for i in range(23)]
    page = client.v1.customers.list(params={"limit": 10})
    assert page.has_more is True
    assert [c.id for c in page.data] == ids[::-1][:10]
    everything = [c.id for c in client.v1.customers.list(params={"limit": 7}).auto_paging_iter()]
    assert everything == ids[::-1]
    before = client.v1.customers.list(params={"limit": 3, "ending_before": ids[10]})
    assert [c.id for c in before.data] == [ids[13], ids[12], ids[11]]
    assert client.v1.customers.list(params={"email": "p3@example.com"}).data[0].id == ids[3]
    found = client.v1.customers.search(params={"query": "email:'p4@example.com'"})
    assert [c.id for c in found.data] == [ids[4]]


def test_legacy_global_configuration(emulator: EmulatorServer) -> None:
    saved = (stripe.api_key, stripe.api_base, stripe.api_version)
    stripe.api_key, stripe.api_base, stripe.api_version = "sk_test_g", emulator.url, API_VERSION
    try:
        cust = stripe.Customer.create(email="legacy@example.com", metadata={"k": "v"})
        metadata = stripe.Customer.retrieve(cust.id).metadata
        assert metadata is not None
        assert metadata["k"] == "v"
        prices = stripe.Price.list(lookup_keys=["plus_annual"], expand=["data.product"])
        product = expanded(prices.data[0].product, stripe.Product)
        assert (prices.data[0].unit_amount, product.name) == (5000, "Plus")
        recurring = prices.data[0].recurring
        assert recurring is not None
        assert recurring.interval == "year"
    finally:
        stripe.api_key, stripe.api_base, stripe.api_version = saved


def test_catalog(client: stripe.StripeClient) -> None:
    prices = client.v1.prices.list(params={"active": True, "product": "prod_plus"})
    assert {p.lookup_key for p in prices.data} == {"plus_monthly", "plus_annual"}
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Pro"},
            "lookup_key": "pro_monthly",
        }
    )
    assert client.v1.products.retrieve(unexpanded(price.product)).name == "Pro"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.prices.create(
            params={
                "currency": "usd",
                "unit_amount": 1,
                "product": "prod_plus",
                "lookup_key": "pro_monthly",
            }
        )
    moved = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 1,
            "product": "prod_plus",
            "lookup_key": "pro_monthly",
            "transfer_lookup_key": True,
        }
    )
    assert client.v1.prices.retrieve(price.id).lookup_key is None
    assert client.v1.prices.list(params={"lookup_keys": ["pro_monthly"]}).data[0].id == moved.id
    coupon = client.v1.coupons.create(params={"percent_off": 50, "duration": "forever"})
    promo = client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "HALF"}
    )
    assert (promo.code, promo.active) == ("HALF", True)


def test_subscription_api_operations(client: stripe.StripeClient, state: EmulatorState) -> None:
    cust = client.v1.customers.create(
        params={
            "email": "s@example.com",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    sub = client.v1.subscriptions.create(
        params={
            "customer": cust.id,
            "items": [{"price": "price_plus_monthly"}],
            "metadata": {"a": "1"},
            "expand": ["latest_invoice", "items.data.price.product"],
        }
    )
    assert sub.status == "active"
    assert expanded(sub.latest_invoice, stripe.Invoice).status == "paid"
    assert sub["items"].data[0].price.product.name == "Plus"
    listed = client.v1.subscriptions.list(
        params={"customer": cust.id, "price": "price_plus_monthly"}
    )
    assert [s.id for s in listed.data] == [sub.id]

    sub = client.v1.subscriptions.update(
        sub.id, params={"metadata": {"a": "", "b": "2"}, "pause_collection": {"behavior": "void"}}
    )
    assert sub.metadata.to_dict() == {"b": "2"}
    assert sub.pause_collection is not None
    assert sub.pause_collection.behavior == "void"
    sub = client.v1.subscriptions.update(sub.id, params={"pause_collection": ""})
    assert sub.pause_collection is None

    assert client.v1.subscriptions.pause(sub.id).status == "paused"
    assert client.v1.subscriptions.resume(sub.id).status == "active"
    assert state.events("customer.subscription.paused")
    assert state.events("customer.subscription.resumed")

    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.cancellation_details is not None
    assert (canceled.status, canceled.cancellation_details.reason) == (
        "canceled",
        "cancellation_requested",
    )
    assert client.v1.subscriptions.list(params={"customer": cust.id}).data == []
    assert (
        len(client.v1.subscriptions.list(params={"customer": cust.id, "status": "all"}).data) == 1
    )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})


def test_trial_end_now_and_items_swap(client: stripe.StripeClient) -> None:
    cust = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    sub = client.v1.subscriptions.create(
        params={
            "customer": cust.id,
            "items": [{"price": "price_plus_monthly"}],
            "trial_period_days": 30,
        }
    )
    assert sub.status == "trialing"
    sub = client.v1.subscriptions.update(sub.id, params={"trial_end": "now"})
    assert sub.status == "active"
    item = sub["items"].data[0]
    sub = client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": "price_plus_annual"}],
            "proration_behavior": "none",
        },
    )
    assert sub["items"].data[0].price.id == "price_plus_annual"
    invoices = client.v1.invoices.list(params={"subscription": sub.id}).data
    assert [i.billing_reason for i in invoices] == [
        "subscription_update",
        "subscription_update",
        "subscription_create",
    ]


@pytest.fixture
def unseeded() -> Iterator[EmulatorServer]:
    srv = EmulatorServer(port=0, seed=False).start()
    yield srv
    srv.stop()


def test_unseeded_emulator_is_empty(unseeded: EmulatorServer) -> None:
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": unseeded.url})
    assert client.v1.prices.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        new_session(client)


def test_customer_deletion_cancels_subscriptions(client: stripe.StripeClient) -> None:
    cust = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    sub = client.v1.subscriptions.create(
        params={"customer": cust.id, "items": [{"price": "price_plus_monthly"}]}
    )
    assert client.v1.customers.delete(cust.id).deleted is True
    assert client.v1.customers.retrieve(cust.id).deleted is True
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert client.v1.customers.list().data == []


def test_checkout_helper_endpoints(client: stripe.StripeClient, state: EmulatorState) -> None:
    sess = new_session(client)
    with pytest.raises(stripe.CardError):
        client.raw_request(
            "post",
            f"/v1/test_helpers/checkout/sessions/{sess.id}/complete",
            card="4000000000000002",
        )
    raw = client.raw_request(
        "post",
        f"/v1/test_helpers/checkout/sessions/{sess.id}/complete",
        card="4000002500003155",
        authentication="complete",
    )
    done = client.deserialize(raw, api_mode="V1")
    assert isinstance(done, stripe.checkout.Session)
    assert (done.object, done.status, done.payment_status) == (
        "checkout.session",
        "complete",
        "paid",
    )
    raw = client.raw_request("post", "/v1/test_helpers/devstripe/advance", seconds=3600)
    assert client.deserialize(raw, api_mode="V1")["now"] >= state.now() - 1  # the emulator's own


def test_a_retried_cancel_with_its_idempotency_key_replays_the_cancel(
    client: stripe.StripeClient,
) -> None:
    cust = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    sub = client.v1.subscriptions.create(
        params={"customer": cust.id, "items": [{"price": "price_plus_monthly"}]}
    )
    first = client.v1.subscriptions.cancel(sub.id, options={"idempotency_key": "cancel-1"})
    again = client.v1.subscriptions.cancel(sub.id, options={"idempotency_key": "cancel-1"})
    assert (first.status, again.status) == ("canceled", "canceled")
    assert again.last_response is not None
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    # Without the key, a second cancel is refused as Stripe refuses it: as if deleted.
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.cancel(sub.id)
    assert (exc.value.http_status, exc.value.code) == (404, "resource_missing")
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"
