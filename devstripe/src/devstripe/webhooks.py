"""Signed webhook delivery: a background worker with retries, plus chaos switches."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
# An endpoint is an http(s) URL, or a callable(body, headers) -> status for in-process apps.
Target = str | Callable[[bytes, dict[str, str]], int]
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """Build a `Stripe-Signature` header value exactly as Stripe does."""
    # The real time, not the emulator's clock: receivers check it against their own wall clock.
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


@dataclass
class Endpoint:
    """A webhook destination with its signing secret."""

    id: str
    url: Target
    secret: str
    enabled_events: list[str] = field(default_factory=lambda: ["*"])

    def wants(self, etype: str) -> bool:
        """Whether this endpoint subscribed to the event type."""
        return "*" in self.enabled_events or etype in self.enabled_events


@dataclass
class Delivery:
    """One event bound for one endpoint."""

    seq: int
    event_id: str
    endpoint_id: str
    body: bytes
    state: str = "pending"  # pending | delivered | failed | dropped
    attempts: int = 0
    next_at: float = 0.0
    in_flight: bool = False


class Deliverer:
    """Queues deliveries and sends them from a daemon thread (or synchronously via flush)."""

    def __init__(self, lock: threading.RLock, on_change: Callable[[str, int, bool], None]) -> None:
        self._cond = threading.Condition(lock)
        self._on_change = on_change
        self.endpoints: dict[str, Endpoint] = {}
        self._pending: list[Delivery] = []
        self._by_event: dict[str, list[Delivery]] = {}
        self._seq = 0
        self.retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)
        self.timeout = 5.0
        self.duplicate = 0.0
        self.shuffle = False
        self.delay_s = 0.0
        self.drop = 0.0
        self.rng = random.Random()  # noqa: S311 - chaos decisions, seedable for tests
        self.paused = False
        self.log: list[tuple[str, str, int]] = []
        self._thread: threading.Thread | None = None
        self._stopped = False
        # Never route localhost deliveries through an environment proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # configuration -------------------------------------------------------
    def add_endpoint(self, endpoint: Endpoint) -> None:
        """Start sending future events to an endpoint."""
        with self._cond:
            self.endpoints[endpoint.id] = endpoint

    def remove_endpoint(self, endpoint_id: str) -> None:
        """Stop sending to an endpoint; its queued deliveries are dropped."""
        with self._cond:
            self.endpoints.pop(endpoint_id, None)
            for d in self._pending:
                if d.endpoint_id == endpoint_id and d.state == "pending":
                    d.state = "dropped"

    def set_chaos(
        self, duplicate: float, shuffle: bool, delay_s: float, drop: float, seed: int | None
    ) -> None:
        """Configure duplicate/shuffle/delay/drop behaviour for future deliveries."""
        with self._cond:
            self.duplicate, self.shuffle, self.delay_s, self.drop = (
                duplicate,
                shuffle,
                delay_s,
                drop,
            )
            if seed is not None:
                self.rng.seed(seed)
            self._cond.notify_all()

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the background worker (flush still works while paused)."""
        with self._cond:
            self.paused = paused
            self._cond.notify_all()

    # queueing ------------------------------------------------------------
    def enqueue(self, event: Obj) -> None:
        """Create one delivery per interested endpoint; called under the store lock."""
        with self._cond:
            targets = [e for e in self.endpoints.values() if e.wants(event["type"])]
            event["pending_webhooks"] = len(targets)
            if not targets:
                return
            event["_delivered"] = False
            public = {k: v for k, v in event.items() if not k.startswith("_")}
            body = json.dumps(public, indent=2).encode("utf-8")
            items = []
            for ep in targets:
                self._seq += 1
                d = Delivery(self._seq, event["id"], ep.id, body, next_at=time.monotonic())
                if self.drop and self.rng.random() < self.drop:
                    d.state = "dropped"
                items.append(d)
            self._by_event[event["id"]] = items
            self._pending.extend(items)
            self._ensure_thread()
            self._cond.notify_all()

    def resend(self, event_id: str) -> int:
        """Queue every undelivered delivery of an event again (like the dashboard's Resend)."""
        with self._cond:
            n = 0
            for d in self._by_event.get(event_id, []):
                if d.state != "delivered":
                    d.state, d.attempts, d.next_at = "pending", 0, time.monotonic()
                    if d not in self._pending:
                        self._pending.append(d)
                    n += 1
            self._cond.notify_all()
            return n

    def undelivered_event_ids(self, include_dropped: bool = False) -> list[str]:
        """Event ids with a delivery still owed, in queue order."""
        with self._cond:
            states = ("pending", "failed", "dropped") if include_dropped else ("pending", "failed")
            out: list[str] = []
            for d in self._pending:
                if d.state in states and d.event_id not in out:
                    out.append(d.event_id)
            return out

    # sending -------------------------------------------------------------
    def _send(self, d: Delivery) -> int:
        ep = self.endpoints.get(d.endpoint_id)
        if ep is None:
            return 0
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Stripe-Signature": sign(d.body, ep.secret),
        }
        try:
            if callable(ep.url):
                return int(ep.url(d.body, headers))
            if not ep.url.startswith(("http://", "https://")):
                return 0
            req = urllib.request.Request(ep.url, data=d.body, headers=headers, method="POST")  # noqa: S310
            with self._opener.open(req, timeout=self.timeout) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except Exception:
            return 0

    def _attempt(self, d: Delivery) -> bool:
        status = self._send(d)
        ok = 200 <= status < 300
        extra = ok and self.duplicate > 0 and self.rng.random() < self.duplicate
        if extra:
            self._send(d)  # Stripe delivers at least once: the receiver must dedupe.
        with self._cond:
            url = self.endpoints[d.endpoint_id].url if d.endpoint_id in self.endpoints else "?"
            self.log.append((d.event_id, str(url), status))
            if extra:
                self.log.append((d.event_id, str(url), status))
            d.attempts += 1
            d.in_flight = False
            if ok:
                d.state = "delivered"
            elif d.attempts > len(self.retry_delays):
                d.state = "failed"
            else:
                d.next_at = time.monotonic() + self.retry_delays[d.attempts - 1]
            if d.state == "delivered":
                self._pending.remove(d)
            self._report(d.event_id)
            self._cond.notify_all()
        return ok

    def _report(self, event_id: str) -> None:
        items = self._by_event.get(event_id, [])
        owed = sum(1 for d in items if d.state != "delivered")
        self._on_change(event_id, owed, owed == 0)

    def _choose(self, cands: list[Delivery]) -> Delivery:
        return self.rng.choice(cands) if self.shuffle else min(cands, key=lambda d: d.seq)

    def flush(self, include_dropped: bool = False) -> int:
        """Synchronously attempt every owed delivery once; return how many succeeded.

        Must not be called while holding the store lock: receivers may call back
        into the emulator while handling the webhook.
        """
        tried: set[int] = set()
        count = 0
        states = ("pending", "failed", "dropped") if include_dropped else ("pending", "failed")
        while True:
            with self._cond:
                cands = [
                    d
                    for d in self._pending
                    if d.state in states and not d.in_flight and d.seq not in tried
                ]
                if not cands:
                    if any(d.in_flight for d in self._pending):
                        self._cond.wait(0.05)  # let the worker finish what it is sending
                        continue
                    return count
                d = self._choose(cands)
                d.in_flight = True
                tried.add(d.seq)
            count += self._attempt(d)

    # worker --------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(
                target=self._run, name="devstripe-webhooks", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                due = (
                    []
                    if self.paused
                    else [
                        d
                        for d in self._pending
                        if d.state == "pending" and not d.in_flight and d.next_at <= now
                    ]
                )
                if not due:
                    waits = [
                        d.next_at - now
                        for d in self._pending
                        if d.state == "pending" and not d.in_flight
                    ]
                    self._cond.wait(min([1.0, *waits]) if waits and not self.paused else 1.0)
                    continue
                d = self._choose(due)
                d.in_flight = True
                delay = self.delay_s
            if delay:
                time.sleep(delay)
            self._attempt(d)

    def stop(self) -> None:
        """Stop the worker thread (queued deliveries stay queued)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.timeout + 1)
