"""The Stripe side of bench/webhooks.py: the offline emulator, its readers and their events."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from support.servers import HOST
from webhooks_scenario.settings import STRIPE_KEY, WEBHOOK_PATH, WEBHOOK_SECRET

PRICES = ("price_plus_monthly", "price_plus_annual")  # seeded by the emulator
EVENTS_PER_SUBSCRIPTION = 3  # subscription.created, invoice.paid, subscription.updated


class CallTimer:
    """WSGI middleware timing every request the emulator serves (the app's re-fetches).

    While recording it can also hold every answer back `delay` seconds first, standing in for
    the network between the app and api.stripe.com (not counted in the service time).
    """

    def __init__(self, wsgi_app: Callable[..., Any]) -> None:
        self.wsgi_app = wsgi_app
        self.durations: list[float] = []
        self.recording = False
        self.delay = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve the request; note how long the emulator took to produce the answer."""
        if self.recording and self.delay:
            time.sleep(self.delay)  # the server is threaded: delays overlap
        started = time.perf_counter()
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            if self.recording:
                self.durations.append(time.perf_counter() - started)  # atomic under the GIL

    def take(self) -> list[float]:
        """Return and forget the durations recorded so far."""
        taken, self.durations = self.durations, []
        return taken


@dataclass(frozen=True)
class Event:
    """One queued Stripe event, serialised as Stripe sends it (unsigned)."""

    id: str
    type: str
    body: bytes


@dataclass
class StripeSide:
    """The emulator, the SDK client that plays the readers, and what has been collected."""

    emulator: Any
    timer: CallTimer
    test_clock: str | None = None
    seen: set[str] = field(default_factory=set)
    subscriptions: list[str] = field(default_factory=list)

    def sdk(self) -> Any:
        """Return a Stripe SDK client pointed at the emulator."""
        import stripe

        return stripe.StripeClient(STRIPE_KEY, base_addresses={"api": self.emulator.url})

    def subscribe(self, count: int) -> None:
        """Create `count` readers: a customer with a card that pays, and a Plus subscription."""
        client = self.sdk()
        for _ in range(count):
            number = len(self.subscriptions) + 1
            account = f"bench-reader-{number}"
            params: dict[str, Any] = {
                "metadata": {"account_id": account},
                "payment_method": "pm_card_visa",
                "invoice_settings": {"default_payment_method": "pm_card_visa"},
            }
            if self.test_clock:
                params["test_clock"] = self.test_clock
            customer = client.v1.customers.create(params=params)
            subscription = client.v1.subscriptions.create(
                params={
                    "customer": customer.id,
                    "items": [{"price": PRICES[number % len(PRICES)]}],
                    "metadata": {"account_id": account},
                }
            )
            if subscription.status != "active":
                raise RuntimeError(f"subscription {subscription.id} is {subscription.status}")
            self.subscriptions.append(str(subscription.id))

    def use_test_clock(self) -> None:
        """Put the readers made from now on a test clock frozen at the current time."""
        clock = self.sdk().v1.test_helpers.test_clocks.create(
            params={"frozen_time": int(time.time()), "name": "bench readers"}
        )
        self.test_clock = str(clock.id)

    def collect(self, count: int) -> list[Event]:
        """Make readers until `count` new events are queued; return the first `count`."""
        fresh: list[Event] = []
        while len(fresh) < count:
            self.subscribe(math.ceil((count - len(fresh)) / EVENTS_PER_SUBSCRIPTION))
            for event in self.emulator.state.pending_events():
                if event["id"] not in self.seen:
                    self.seen.add(event["id"])
                    # Stripe's own serialisation: pretty-printed JSON (the emulator's too).
                    body = json.dumps(event, indent=2).encode("utf-8")
                    fresh.append(Event(event["id"], event["type"], body))
        return fresh[:count]


def make_emulator() -> StripeSide:
    """Make the emulator (bound to its port, not serving yet) with delivery paused and an
    endpoint subscribed to the event types the app handles."""
    from devstripe import EmulatorServer
    from entitlements.billing.handlers import HANDLERS

    emulator = EmulatorServer(port=0)
    timer = CallTimer(emulator.app.wsgi_app)
    emulator.app.wsgi_app = timer  # type: ignore[method-assign]
    emulator.state.pause_delivery()
    # Stripe sends an endpoint only the types it subscribed to: the ones the app handles.
    # The URL is never called (delivery stays paused): the senders deliver the events.
    emulator.state.add_webhook_endpoint(
        f"http://{HOST}:9{WEBHOOK_PATH}", WEBHOOK_SECRET, enabled_events=sorted(HANDLERS)
    )
    return StripeSide(emulator, timer)
