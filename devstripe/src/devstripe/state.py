"""The emulator state object exposed as `app.extensions["devstripe"]`, with test controls."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

from devstripe import catalog, checkout, engine, render, shapes
from devstripe.clock import DAY
from devstripe.store import API_VERSION, Store, WallClock
from devstripe.webhooks import Endpoint, Target

Obj = dict[str, Any]


class EmulatorState(Store):
    """All emulator data plus the knobs tests turn (clock, chaos, delivery, card failures)."""

    def __init__(
        self,
        *,
        public_url: str | None = None,
        cancel_behavior: str = "canceled",
        seed: bool = True,
        wall_clock: WallClock = time.time,
    ) -> None:
        super().__init__(
            public_url=public_url, cancel_behavior=cancel_behavior, wall_clock=wall_clock
        )
        if seed:
            catalog.seed(self)

    # clocks --------------------------------------------------------------
    def advance(self, seconds: int) -> int:
        """Move the global clock forward, running renewals/retries/expiries; returns steps run."""
        return engine.advance_global(self, int(seconds))

    def tick(self) -> None:
        """Run whatever became due on the global clock."""
        engine.tick(self)

    def create_test_clock(self, frozen_time: int | None = None, name: str | None = None) -> Obj:
        """Create a Stripe test clock (same as `POST /v1/test_helpers/test_clocks`)."""
        with self.lock:
            tc = shapes.base(self, "clock", "test_helpers.test_clock")
            tc.update(
                {
                    "deletes_after": tc["created"] + 30 * DAY,
                    "frozen_time": int(frozen_time if frozen_time is not None else self.now()),
                    "name": name,
                    "status": "ready",
                    "status_details": {},
                }
            )
            self.put(tc)
            self.emit("test_helpers.test_clock.created", tc)
            return render.render(self, tc)

    def advance_test_clock(self, clock_id: str, frozen_time: int) -> Obj:
        """Advance a test clock to `frozen_time` synchronously and return it."""
        with self.lock:
            tc = self.require(clock_id, "test_helpers.test_clock", "test clock")
            engine.advance_test_clock(self, tc, int(frozen_time))
            return render.render(self, tc)

    def set_retry_schedule(self, days: Sequence[float] = (3, 5, 7)) -> None:
        """Payment retry offsets (days after the first failure); the last failure ends dunning."""
        with self.lock:
            self.retry_offsets = tuple(int(d * DAY) for d in days)

    def set_card_fails(self, customer_id: str, fails: bool = True) -> None:
        """Make every future charge for this customer fail (or succeed again)."""
        with self.lock:
            self.require(customer_id, "customer")
            (self.card_fails.add if fails else self.card_fails.discard)(customer_id)

    # webhooks ------------------------------------------------------------
    def add_webhook_endpoint(
        self,
        url: Target,
        secret: str | None = None,
        enabled_events: Sequence[str] = ("*",),
        description: str | None = None,
    ) -> Obj:
        """Register a webhook endpoint and return it (with `secret`).

        `url` may also be a callable(body, headers) -> HTTP status, for in-process apps.
        """
        with self.lock:
            secret = secret or "whsec_" + secrets.token_hex(16)
            we = shapes.base(self, "we", "webhook_endpoint")
            we.update(
                {
                    "api_version": API_VERSION,
                    "application": None,
                    "description": description,
                    "enabled_events": list(enabled_events),
                    "secret": secret,
                    "status": "enabled",
                    "url": url if isinstance(url, str) else repr(url),
                }
            )
            self.put(we)
            self.deliverer.add_endpoint(Endpoint(we["id"], url, secret, list(enabled_events)))
            return render.render(self, we)

    def remove_webhook_endpoint(self, endpoint_id: str) -> None:
        """Delete a webhook endpoint; its undelivered events will not be sent."""
        with self.lock:
            self.require(endpoint_id, "webhook_endpoint", "webhook endpoint")
            self.remove(endpoint_id)
            self.deliverer.remove_endpoint(endpoint_id)

    def set_chaos(
        self,
        duplicate: float = 0.0,
        shuffle: bool = False,
        delay_s: float = 0.0,
        drop: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """Delivery chaos: duplicate/drop probabilities, random order, per-delivery delay."""
        for name, p in (("duplicate", duplicate), ("drop", drop)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1")
        self.deliverer.set_chaos(duplicate, shuffle, delay_s, drop, seed)

    def set_delivery_retries(self, delays: Sequence[float] = (0.2, 0.5, 1.0, 2.0, 5.0)) -> None:
        """Seconds between webhook delivery attempts; len(delays)+1 attempts in total."""
        with self.lock:
            self.deliverer.retry_delays = tuple(float(d) for d in delays)

    def pause_delivery(self) -> None:
        """Stop the background sender; events queue up until resumed or flushed."""
        self.deliverer.set_paused(True)

    def resume_delivery(self) -> None:
        """Restart the background sender."""
        self.deliverer.set_paused(False)

    def flush_deliveries(self, include_dropped: bool = False) -> int:
        """Deliver every owed event now, synchronously; returns how many deliveries succeeded."""
        return self.deliverer.flush(include_dropped)

    def pending_events(self, include_dropped: bool = False) -> list[Obj]:
        """Events not yet delivered to every endpoint (queue order)."""
        with self.lock:
            ids = self.deliverer.undelivered_event_ids(include_dropped)
            return [render.render(self, self.objects[i]) for i in ids if i in self.objects]

    def resend_event(self, event_id: str) -> int:
        """Queue an event's undelivered (or dropped/failed) deliveries again."""
        return self.deliverer.resend(event_id)

    def delivery_log(self) -> list[tuple[str, str, int]]:
        """Every delivery attempt so far as (event id, endpoint url, HTTP status; 0 = no answer)."""
        with self.lock:
            return list(self.deliverer.log)

    def requeue_undelivered(self) -> None:
        """Queue every undelivered event for the endpoints registered now (after a restart)."""
        with self.lock:
            for event in self.all("event"):
                if not event.get("_delivered", True):
                    self.deliverer.enqueue(event)

    def shutdown(self) -> None:
        """Stop the delivery worker thread."""
        self.deliverer.stop()

    # inspection ----------------------------------------------------------
    def retrieve(self, obj_id: str) -> Obj:
        """The JSON the API would return for an object id (KeyError if unknown)."""
        with self.lock:
            return render.render(self, self.objects[obj_id])

    def list_objects(self, kind: str) -> list[Obj]:
        """All objects of a kind (`subscription`, `invoice`, ...), oldest first, as JSON."""
        with self.lock:
            return [render.render(self, o) for o in self.all(kind)]

    def events(self, type: str | None = None) -> list[Obj]:
        """Emitted events, oldest first, optionally of one type."""
        return [e for e in self.list_objects("event") if type is None or e["type"] == type]

    # hosted pages without a browser -----------------------------------------
    def complete_checkout(
        self,
        session_id: str,
        card: str = "4242424242424242",
        email: str | None = None,
        promotion_code: str | None = None,
        authenticate: bool | None = None,
    ) -> str:
        """Pay a checkout session as the hosted page would; returns the outcome status.

        Outcomes: complete, requires_action, declined, error. With `authenticate`
        set, a 3D Secure step is completed (True) or failed (False) right away.
        """
        sess = self.require(session_id, "checkout.session", "checkout session")
        email = email or sess["customer_email"] or "customer@example.com"
        result = checkout.submit_payment(
            self, sess, email=email, card=card, promotion_code=promotion_code
        )
        if result.status == "requires_action" and authenticate is not None:
            result = checkout.authenticate(self, sess, authenticate)
        return result.status
