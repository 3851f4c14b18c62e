"""The Plus offer: catalog prices as Stripe prices them, cached briefly."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from ..billing.stripe_gateway import StripeGateway
from ..catalog import Catalog

CACHE_SECONDS = 300
_cache: dict[str, tuple[float, dict[str, object] | None]] = {}
_lock = threading.Lock()


def _new_lock() -> None:
    # A lock held by another thread at a fork would stay held in the child forever.
    global _lock  # noqa: PLW0603 - the module's one lock, replaced only in a forked child
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock)


@dataclass(frozen=True)
class Offer:
    """One price of the offer page."""

    lookup_key: str
    label: str
    amount: str
    interval: str


def _price(gateway: StripeGateway, lookup_key: str) -> dict[str, object] | None:
    with _lock:
        hit = _cache.get(lookup_key)
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    price = gateway.find_price(lookup_key)
    with _lock:
        _cache[lookup_key] = (time.monotonic(), price)
    return price


def offers(gateway: StripeGateway, catalog: Catalog) -> list[Offer]:
    """Return the offers for every catalog price Stripe knows, monthly before annual."""
    result = []
    for key in catalog.lookup_keys:
        price = _price(gateway, key)
        if price is None:
            continue
        recurring = price.get("recurring") or {}
        interval = (
            str(recurring.get("interval", "month")) if isinstance(recurring, dict) else "month"
        )
        cents = int(price.get("unit_amount") or 0)  # type: ignore[call-overload]
        symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(str(price.get("currency")), "")
        result.append(
            Offer(
                key,
                "Annual" if interval == "year" else "Monthly",
                f"{symbol}{cents / 100:,.2f}",
                interval,
            )
        )
    return sorted(result, key=lambda o: o.interval != "month")
