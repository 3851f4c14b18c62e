"""Webhook delivery (signatures, retries, chaos, flush), endpoints API, CLI, production guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
import stripe

from devstripe import EmulatorServer, EmulatorState, catalog, create_emulator
from emulator_support import Receiver


def _customers(client: stripe.StripeClient, n: int) -> list[str]:
    return [client.v1.customers.create(params={"email": f"w{i}@example.com"}).id for i in range(n)]


def test_signed_delivery_in_order(client: stripe.StripeClient, receiver: Receiver) -> None:
    ids = _customers(client, 5)
    receiver.wait_for(lambda evs: len(evs) == 5)
    assert [e["data"]["object"]["id"] for e in receiver.events] == ids
    assert receiver.headers[0] == {
        "content-type": "application/json; charset=utf-8",
        "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    assert receiver.rejected == 0
    event = receiver.events[0]
    assert (event["object"], event["livemode"], event["type"]) == (
        "event",
        False,
        "customer.created",
    )
    assert event["request"]["id"].startswith("req_")
    fetched = client.v1.events.retrieve(event["id"])
    assert fetched.data.object.id == ids[0]


def test_retries_until_2xx(
    client: stripe.StripeClient, state: EmulatorState, receiver: Receiver
) -> None:
    state.pause_delivery()
    receiver.fail_next = 2
    (cid,) = _customers(client, 1)
    undelivered = client.v1.events.list(params={"delivery_success": False})
    assert [e.data.object.id for e in undelivered.data] == [cid]
    assert undelivered.data[0].pending_webhooks == 1
    assert state.flush_deliveries() == 0  # first attempt answered 500
    state.resume_delivery()
    receiver.wait_for(lambda evs: len(evs) == 1)
    deadline = time.monotonic() + 2
    while (
        client.v1.events.list(params={"delivery_success": False}).data
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert client.v1.events.list(params={"delivery_success": True}).data[0].pending_webhooks == 0
    assert [s for _, _, s in state.delivery_log()] == [500, 500, 200]


def test_pause_and_flush(
    client: stripe.StripeClient, state: EmulatorState, receiver: Receiver
) -> None:
    state.pause_delivery()
    ids = _customers(client, 4)
    assert [e["data"]["object"]["id"] for e in state.pending_events()] == ids
    assert receiver.events == []
    assert state.flush_deliveries() == 4
    assert [e["data"]["object"]["id"] for e in receiver.events] == ids
    assert state.pending_events() == []


def test_chaos_duplicates_shuffle_and_drop(
    client: stripe.StripeClient, state: EmulatorState, receiver: Receiver
) -> None:
    state.pause_delivery()
    state.set_chaos(duplicate=1.0, seed=1)
    _customers(client, 2)
    assert state.flush_deliveries() == 2
    assert len(receiver.events) == 4
    assert len({e["id"] for e in receiver.events}) == 2

    receiver.events.clear()
    state.set_chaos(shuffle=True, seed=3)
    ids = _customers(client, 12)
    assert state.flush_deliveries() == 12
    got = [e["data"]["object"]["id"] for e in receiver.events]
    assert sorted(got) == sorted(ids)
    assert got != ids

    receiver.events.clear()
    state.set_chaos(drop=1.0)
    state.resume_delivery()
    dropped = _customers(client, 3)
    time.sleep(0.1)
    assert receiver.events == []
    listed = client.v1.events.list(params={"delivery_success": False, "type": "customer.created"})
    assert [e.data.object.id for e in listed.data] == dropped[::-1]
    assert state.pending_events() == []
    assert state.flush_deliveries() == 0
    state.pause_delivery()
    assert state.flush_deliveries(include_dropped=True) == 3
    assert client.v1.events.list(params={"delivery_success": False}).data == []


def test_delay_and_callable_endpoint(state: EmulatorState) -> None:
    seen: list[dict[str, Any]] = []

    def handler(body: bytes, headers: dict[str, str]) -> int:
        event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_inproc")
        seen.append(json.loads(body))
        return 200 if event.type else 500

    state.add_webhook_endpoint(handler, "whsec_inproc", enabled_events=["customer.created"])
    state.set_chaos(delay_s=0.05)
    state.pause_delivery()
    catalog.new_customer(state, email="inproc@example.com")
    state.emit("product.updated", state.objects["prod_plus"])
    assert state.flush_deliveries() == 3  # two for the receiver, one for the handler
    assert [e["type"] for e in seen] == ["customer.created"]


def test_webhook_endpoints_api(client: stripe.StripeClient, emulator: EmulatorServer) -> None:
    other = Receiver(secret="unused")
    try:
        we = client.v1.webhook_endpoints.create(
            params={"url": other.url, "enabled_events": ["customer.created"]}
        )
        assert we.secret is not None
        assert we.secret.startswith("whsec_")
        other.secret = we.secret
        client.v1.customers.create(params={"email": "e@example.com"})
        other.wait_for(lambda evs: len(evs) == 1)
        assert client.v1.webhook_endpoints.list().data[0].id == we.id
        client.v1.webhook_endpoints.delete(we.id)
        client.v1.customers.create(params={"email": "f@example.com"})
        emulator.state.flush_deliveries()
        assert len(other.events) == 1
    finally:
        other.stop()


def test_events_filters(client: stripe.StripeClient, state: EmulatorState) -> None:
    cust = client.v1.customers.create(params={"email": "f@example.com"})
    client.v1.customers.update(cust.id, params={"name": "Filter"})
    updated = client.v1.events.list(params={"type": "customer.updated"}).data
    previous = updated[0].data.previous_attributes
    assert previous is not None
    assert previous.to_dict() == {"name": None}
    both = client.v1.events.list(params={"types": ["customer.created", "customer.updated"]}).data
    assert [e.type for e in both] == ["customer.updated", "customer.created"]
    assert client.v1.events.list(params={"type": "customer.*"}).data[0].type == "customer.updated"
    newest = both[0].created
    assert client.v1.events.list(params={"created": {"gt": newest}}).data == []
    assert (
        len(client.v1.events.list(params={"created": {"gte": newest}, "type": "customer.*"}).data)
        == 2
    )
    assert state.events("customer.updated")[0]["id"] == updated[0].id


def test_production_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTITLEMENTS_ENV", "production")
    with pytest.raises(RuntimeError, match="production"):
        create_emulator()
    with pytest.raises(RuntimeError, match="production"):
        EmulatorServer(port=0)


def test_command_line(tmp_path: Any) -> None:
    env = {**os.environ, "ENTITLEMENTS_ENV": "production"}
    refused = subprocess.run(
        [sys.executable, "-m", "devstripe", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 2
    assert "ENTITLEMENTS_ENV=production" in refused.stderr

    env["ENTITLEMENTS_ENV"] = "test"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstripe",
            "--port",
            "0",
            "--webhook",
            "http://127.0.0.1:9/hook=whsec_cli",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split()[3]
        client = stripe.StripeClient("sk_test_cli", base_addresses={"api": url})
        assert client.v1.prices.retrieve("price_plus_monthly").unit_amount == 500
        assert client.v1.webhook_endpoints.list().data[0].url == "http://127.0.0.1:9/hook"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0
