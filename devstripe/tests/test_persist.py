"""A state file keeps the emulator's objects across a restart, as Stripe keeps them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe

from devstripe import EmulatorServer
from devstripe.clock import DAY, HOUR
from devstripe.persist import StateFileError
from emulator_support import API_VERSION, Receiver, browse, new_session, pay, unexpanded


def sdk(srv: EmulatorServer) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_devstripe",
        base_addresses={"api": srv.url},
        stripe_version=API_VERSION,
        max_network_retries=0,
    )


@pytest.fixture
def start(receiver: Receiver, tmp_path: Path) -> Iterator[Any]:
    """Start emulators on one state file; every one still running is stopped at the end."""
    running: list[EmulatorServer] = []

    def _start(path: Path = tmp_path / "devstripe.json", port: int = 0) -> EmulatorServer:
        srv = EmulatorServer(
            port=port, webhook_endpoints=[(receiver.url, receiver.secret)], state_path=path
        )
        running.append(srv)
        return srv.start()

    yield _start
    for srv in running:
        srv.stop()


def everything(srv: EmulatorServer) -> dict[str, Any]:
    """Every object as the API renders it, by id."""
    with srv.state.lock:
        ids = list(srv.state.objects)
    return {i: srv.state.retrieve(i) for i in ids if not i.startswith("we_")}


def test_restarted_emulator_keeps_customers_subscriptions_and_open_checkouts(start: Any) -> None:
    first = start()
    client = sdk(first)
    customer = client.v1.customers.create(params={"email": "kept@example.com"})
    paid = new_session(client, customer=customer.id)
    assert pay(paid.url).status == 303
    subscription_id = unexpanded(client.v1.checkout.sessions.retrieve(paid.id).subscription)
    still_open = new_session(client, customer=customer.id)
    first.state.advance(HOUR)  # less than a checkout session lives
    first.state.flush_deliveries()  # so no event is owed: owed ones are queued again at start
    before, clock = everything(first), first.state.now()
    first.stop()

    # The same port, as `entitlements demo run` restarts: hosted pages keep their URLs.
    second = start(port=first.port)
    client = sdk(second)

    assert everything(second) == before
    assert second.state.now() >= clock
    prices = client.v1.prices.list(params={"lookup_keys": ["plus_monthly"]})
    assert len(prices.data) == 1  # the restored catalog, not a second seed
    # The checkout left open can still be paid, and the customer can manage billing.
    assert pay(still_open.url).status == 303
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "http://app.test/account"}
    )
    assert browse(portal.url).status == 200
    # New ids never repeat old ones, and the billing engine carries on renewing.
    fresh = client.v1.customers.create(params={"email": "new@example.com"})
    assert fresh.id not in before
    second.state.advance(31 * DAY)
    invoices = client.v1.invoices.list(params={"subscription": subscription_id})
    assert [i.billing_reason for i in invoices.data][:1] == ["subscription_cycle"]


def test_events_owed_at_a_stop_are_delivered_after_the_restart(
    start: Any, receiver: Receiver
) -> None:
    first = start()
    first.state.pause_delivery()
    customer = sdk(first).v1.customers.create(params={"email": "owed@example.com"})
    first.stop()

    start()

    receiver.wait_for(
        lambda events: any(
            e["type"] == "customer.created" and e["data"]["object"]["id"] == customer.id
            for e in events
        )
    )


def test_state_file_is_written_atomically_and_only_on_change(start: Any, tmp_path: Path) -> None:
    path = tmp_path / "devstripe.json"
    srv = start(path)
    written = path.stat().st_mtime_ns
    assert json.loads(path.read_text())["format"] == 1
    sdk(srv).v1.customers.create(params={"email": "a@example.com"})
    assert path.stat().st_mtime_ns > written
    assert [p.name for p in tmp_path.iterdir()] == ["devstripe.json"]  # no temporary file left


def test_unreadable_state_file_stops_the_start_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "devstripe.json"
    path.write_text("{not json")

    with pytest.raises(StateFileError, match=r"devstripe\.json is not emulator state"):
        EmulatorServer(port=0, state_path=path)

    assert path.read_text() == "{not json"
