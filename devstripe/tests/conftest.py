"""Fixtures for the emulator tests: a server on a fixed clock, an SDK client, a webhook receiver."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from devstripe import EmulatorServer, EmulatorState
from devstripe.store import WallClock
from emulator_support import API_VERSION, WALL_TIME, Receiver


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens a socket to anything but loopback."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address:
            host = str(address[0])
            if not (host.startswith("127.") or host in {"::1", "localhost"}):
                raise AssertionError(f"test tried to reach {address!r}; only loopback is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def wall_clock() -> WallClock:
    """The clock the `emulator` fixture reads: fixed at WALL_TIME (`state.advance` moves on)."""
    return lambda: WALL_TIME


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running webhook receiver."""
    rec = Receiver()
    yield rec
    rec.stop()


@pytest.fixture
def emulator(receiver: Receiver, wall_clock: WallClock) -> Iterator[EmulatorServer]:
    """A fresh emulator on a free port, delivering webhooks to `receiver`."""
    srv = EmulatorServer(
        port=0, webhook_endpoints=[(receiver.url, receiver.secret)], wall_clock=wall_clock
    )
    srv.state.set_delivery_retries((0.05, 0.05, 0.1))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def state(emulator: EmulatorServer) -> EmulatorState:
    """The emulator's state object (same as app.extensions['devstripe'])."""
    return emulator.state


@pytest.fixture
def client(emulator: EmulatorServer) -> stripe.StripeClient:
    """The real SDK pointed at the emulator."""
    return stripe.StripeClient(
        "sk_test_devstripe",
        base_addresses={"api": emulator.url},
        stripe_version=API_VERSION,
        max_network_retries=0,
    )
