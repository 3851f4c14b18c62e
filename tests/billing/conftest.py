"""A Stripe world for billing tests: the emulator and our app, each on real HTTP on loopback.

The real `stripe` SDK in our app talks to the emulator; the emulator delivers signed
webhooks to our app's real endpoint. Our app's clock follows the emulator's clock, so
advancing Stripe time (renewals, failed payments) is what our `resolve()` sees too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from devstripe import EmulatorServer
from entitlements import db
from entitlements.models import Account
from tests.billing.flaky_stripe import FlakyStripe
from tests.conftest import Keys

WEBHOOK_SECRET = "whsec_test_entitlements_" + "s" * 16
STRIPE_KEY = "sk_test_entitlements"
READ = "entitlements:read"


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Keep test output readable."""


@dataclass
class StripeWorld:
    """Our app on real HTTP, the emulator, and helpers to drive both."""

    app: Flask
    app_url: str
    emulator: EmulatorServer
    keys: Keys
    clock_id: str | None = None
    _read_header: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> Any:
        """The emulator's state object (test controls)."""
        return self.emulator.state

    @property
    def sdk(self) -> stripe.StripeClient:
        """A Stripe SDK client pointed at the emulator, as a test's own hands."""
        return stripe.StripeClient(STRIPE_KEY, base_addresses={"api": self.emulator.url})

    def now(self) -> datetime:
        """The billing time: the emulator's clock (or the test clock in use)."""
        return datetime.fromtimestamp(self.state.now(self.clock_id), UTC)

    def entitlements(self, account_id: str) -> dict[str, Any]:
        """Ask the check API over the test client."""
        if not self._read_header:
            self._read_header = self.keys.header(READ)
        response = self.app.test_client().get(
            f"/v1/accounts/{account_id}/entitlements", headers=self._read_header
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        body: dict[str, Any] = response.json  # type: ignore[assignment]
        return body

    def features(self, account_id: str) -> list[str]:
        """The features the check API reports for an account."""
        return list(self.entitlements(account_id)["features"])

    def deliver(self) -> int:
        """Deliver every pending webhook now, synchronously; return how many."""
        delivered: int = self.state.flush_deliveries()
        return delivered

    def customer_for(self, account_id: str, *, test_clock: str | None = None) -> str:
        """Create the account's Stripe customer (optionally on a test clock) and link it."""
        params: dict[str, Any] = {
            "metadata": {"account_id": account_id},
            # A card that pays, as the reader's saved card after Checkout.
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
        if test_clock:
            params["test_clock"] = test_clock
        customer = self.sdk.v1.customers.create(params=params)  # type: ignore[arg-type]
        with self.app.app_context():
            session = db.session()
            account = session.get(Account, account_id) or Account(
                id=account_id, token_version=0, created_at=self.now()
            )
            account.stripe_customer_id = customer.id
            session.add(account)
            session.commit()
        return str(customer.id)

    def event_types(self) -> list[str]:
        """Types of every event the emulator has emitted, oldest first."""
        return [e["type"] for e in reversed(self.state.events())]


@pytest.fixture
def world_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """Extra app settings for a Stripe world (parametrize indirectly to change them)."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def stripe_world(
    make_app: Callable[..., Flask], world_settings: dict[str, str]
) -> Iterator[StripeWorld]:
    """Start our app and the emulator on loopback, wired to each other."""
    holder: dict[str, Flask] = {}

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, wsgi, threaded=True, request_handler=_Quiet
    )
    app_url = f"http://127.0.0.1:{server.server_port}"
    emulator = EmulatorServer(
        port=0, webhook_endpoints=[(f"{app_url}/v1/webhooks/stripe", WEBHOOK_SECRET)]
    )
    # Deliveries happen when a test flushes them: deterministic order and timing.
    emulator.state.pause_delivery()
    emulator.start()
    world_box: dict[str, StripeWorld] = {}
    settings: dict[str, Any] = {
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_API_BASE": emulator.url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PUBLIC_URL": app_url,
        # A late-bound lambda: the world is built after the app.
        "CLOCK": lambda: world_box["world"].now(),  # noqa: PLW0108
        **world_settings,
    }
    app = make_app(**settings)
    holder["app"] = app
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    world = StripeWorld(app=app, app_url=app_url, emulator=emulator, keys=Keys(app))
    world_box["world"] = world
    try:
        yield world
    finally:
        emulator.stop()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def flaky() -> Iterator[FlakyStripe]:
    """A proxy in front of the emulator, forwarding everything until a test sets a fault."""
    with FlakyStripe() as proxy:
        yield proxy


@pytest.fixture
def flaky_world(stripe_world: StripeWorld, flaky: FlakyStripe) -> StripeWorld:
    """A Stripe world whose app reaches the emulator only through `flaky`.

    The module must override `world_settings` with {"STRIPE_API_BASE": flaky.url}.
    """
    config = stripe_world.app.extensions["entitlements"].config
    assert config.stripe_api_base == flaky.url, "override world_settings in the module"
    flaky.upstream = stripe_world.emulator.url
    return stripe_world


def signed_body(event: dict[str, Any]) -> bytes:
    """Serialise an event the way the tests post it by hand."""
    return json.dumps(event).encode()
