"""The in-memory object store: ids, clocks, event emission. Guarded by one re-entrant lock."""

from __future__ import annotations

import base64
import copy
import random
import string
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from devstripe import render
from devstripe.clock import DAY
from devstripe.errors import no_such
from devstripe.webhooks import Deliverer

Obj = dict[str, Any]
# Unix seconds; the global clock is this plus the offset `advance` adds.
WallClock = Callable[[], float]
API_VERSION = "2026-10-28.endive"
_ALPHABET = string.ascii_letters + string.digits


class Store:
    """Objects by id plus the global/test clocks; every mutation happens under `lock`."""

    def __init__(
        self, *, public_url: str | None, cancel_behavior: str, wall_clock: WallClock = time.time
    ) -> None:
        if cancel_behavior not in ("canceled", "unpaid"):
            raise ValueError("cancel_behavior must be 'canceled' or 'unpaid'")
        self.lock = threading.RLock()
        self.objects: dict[str, Obj] = {}
        self._seq: dict[str, int] = {}
        self._by_kind: dict[str, list[str]] = defaultdict(list)
        self._counter = 0
        self.rng = random.Random()  # noqa: S311 - ids only need to look random, not be secret
        self._wall_clock = wall_clock
        self._offset = 0.0
        self.public_url = public_url.rstrip("/") if public_url else None
        self.cancel_behavior = cancel_behavior
        # Offsets from the first failed attempt, like Stripe's default retry schedule.
        self.retry_offsets: tuple[int, ...] = (3 * DAY, 5 * DAY, 7 * DAY)
        self.card_fails: set[str] = set()
        self.idempotency: dict[str, tuple[str, str, int, bytes]] = {}
        self.invoice_number = 0
        self._tls = threading.local()
        self.deliverer = Deliverer(self.lock, self._on_delivery_change)

    # ids and storage -----------------------------------------------------
    def new_id(self, prefix: str) -> str:
        """Return a fresh Stripe-looking id: a counter (for uniqueness) plus random letters."""
        with self.lock:
            self._counter += 1
            suffix = "".join(self.rng.choice(_ALPHABET) for _ in range(10))
            return f"{prefix}_{self._counter:05d}{suffix}"

    def put(self, obj: Obj) -> Obj:
        """Register a new object (must carry `id` and `object`)."""
        with self.lock:
            self._counter += 1
            self.objects[obj["id"]] = obj
            self._seq[obj["id"]] = self._counter
            self._by_kind[obj["object"]].append(obj["id"])
            return obj

    def get(self, obj_id: str, kind: str | None = None) -> Obj | None:
        """Return the stored object, or None when missing or of another kind."""
        obj = self.objects.get(obj_id)
        if obj is None or (kind is not None and obj["object"] != kind):
            return None
        return obj

    def require(self, obj_id: Any, kind: str, label: str | None = None, param: str = "id") -> Obj:
        """Return the stored object or raise Stripe's 404 `No such ...`."""
        obj = self.get(obj_id, kind) if isinstance(obj_id, str) else None
        if obj is None:
            raise no_such(
                label or kind.rsplit(".", maxsplit=1)[-1].replace("_", " "), str(obj_id), param
            )
        return obj

    def remove(self, obj_id: str) -> None:
        """Forget an object entirely (used for deletions)."""
        with self.lock:
            obj = self.objects.pop(obj_id, None)
            if obj is not None:
                self._by_kind[obj["object"]].remove(obj_id)

    def all(self, kind: str) -> list[Obj]:
        """Every object of a kind, oldest first."""
        return [self.objects[i] for i in self._by_kind.get(kind, [])]

    def seq(self, obj_id: str) -> int:
        """Creation order of an object (ties in `created` are common)."""
        return self._seq.get(obj_id, 0)

    # persistence ---------------------------------------------------------
    def export_state(self, skip_kinds: tuple[str, ...] = ()) -> Obj:
        """Return every object and counter as plain JSON data (see `persist.py`)."""
        with self.lock:
            ids = sorted(
                (i for i, o in self.objects.items() if o["object"] not in skip_kinds), key=self.seq
            )
            return {
                "counter": self._counter,
                "clock_offset": self._offset,
                "objects": [[self._seq[i], self.objects[i]] for i in ids],
                "retry_offsets": list(self.retry_offsets),
                "card_fails": sorted(self.card_fails),
                "invoice_number": self.invoice_number,
                "idempotency": [
                    [key, route, digest, status, base64.b64encode(body).decode("ascii")]
                    for key, (route, digest, status, body) in self.idempotency.items()
                ],
            }

    def import_state(self, data: Obj) -> None:
        """Replace every object and counter with what `export_state` returned."""
        with self.lock:
            self.objects.clear()
            self._seq.clear()
            self._by_kind.clear()
            for seq, obj in data["objects"]:
                self.objects[obj["id"]] = obj
                self._seq[obj["id"]] = int(seq)
                self._by_kind[obj["object"]].append(obj["id"])
            self._counter = int(data["counter"])
            self._offset = float(data["clock_offset"])
            self.retry_offsets = tuple(int(s) for s in data["retry_offsets"])
            self.card_fails = set(data["card_fails"])
            self.invoice_number = int(data["invoice_number"])
            self.idempotency = {
                key: (route, digest, int(status), base64.b64decode(body))
                for key, route, digest, status, body in data["idempotency"]
            }

    # clocks --------------------------------------------------------------
    def now(self, clock: str | None = None) -> int:
        """Current time of the global clock, or of a test clock's frozen_time."""
        if clock:
            tc = self.objects.get(clock)
            if tc is not None:
                return int(tc["frozen_time"])
        return int(self._wall_clock() + self._offset)

    def set_time(self, clock: str | None, t: int) -> None:
        """Move a clock forward to `t` (never backwards)."""
        with self.lock:
            if clock and clock in self.objects:
                tc = self.objects[clock]
                tc["frozen_time"] = max(int(tc["frozen_time"]), t)
            elif t > self.now():
                self._offset = t - self._wall_clock()

    def now_for(self, obj: Obj) -> int:
        """Current time on the clock an object lives on."""
        return self.now(obj.get("_clock"))

    # events --------------------------------------------------------------
    @contextmanager
    def request_context(self, req_id: str | None, idem_key: str | None) -> Iterator[None]:
        """Attribute events emitted in this thread to an API request."""
        old = getattr(self._tls, "req", None)
        self._tls.req = {"id": req_id, "idempotency_key": idem_key} if req_id else None
        try:
            yield
        finally:
            self._tls.req = old

    def emit(self, etype: str, obj: Obj, previous: Obj | None = None) -> Obj:
        """Record an event holding a snapshot of `obj` and queue its webhook deliveries."""
        with self.lock:
            data: Obj = {"object": render.render(self, obj)}
            if previous is not None:
                data["previous_attributes"] = previous
            req = getattr(self._tls, "req", None)
            event: Obj = {
                "id": self.new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": self.now_for(obj),
                "data": data,
                "livemode": False,
                "pending_webhooks": 0,
                "request": dict(req) if req else {"id": None, "idempotency_key": None},
                "type": etype,
                "_delivered": True,
            }
            self.put(event)
            self.deliverer.enqueue(event)
            return event

    def _on_delivery_change(self, event_id: str, pending: int, all_ok: bool) -> None:
        event = self.objects.get(event_id)
        if event is not None:
            event["pending_webhooks"] = pending
            event["_delivered"] = all_ok

    @contextmanager
    def tracking(self, obj: Obj, etype: str | None) -> Iterator[Tracker]:
        """Snapshot `obj`; on exit emit the tracker's event type if anything changed.

        Callers may change `tracker.etype` (e.g. to `customer.subscription.deleted`)
        or set it to None to stay silent. Only `*.updated` events carry
        previous_attributes, as on Stripe.
        """
        with self.lock:
            tracker = Tracker(copy.deepcopy(render.render(self, obj)), etype)
            yield tracker
            after = render.render(self, obj)
            previous = {k: v for k, v in tracker.before.items() if after.get(k) != v}
            previous.update({k: None for k in after if k not in tracker.before})
            if tracker.etype and (previous or tracker.force):
                keep = tracker.etype.endswith(".updated")
                self.emit(tracker.etype, obj, previous if keep else None)


class Tracker:
    """State carried by `Store.tracking`: the snapshot and the event to emit."""

    def __init__(self, before: Obj, etype: str | None) -> None:
        self.before = before
        self.etype = etype
        self.force = False
