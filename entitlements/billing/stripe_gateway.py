"""The only module that imports `stripe`: a narrow gateway returning plain dicts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import stripe

from ..errors import InvalidError, NotFoundError, UnavailableError

# Pinned: the objects we parse are shaped by this version (periods live on items).
STRIPE_API_VERSION = "2026-10-28.endive"
TIMEOUT_SECONDS = 10
MAX_RETRIES = 2

# The SDK reports request timings to Stripe unless told not to; we send nothing extra.
stripe.enable_telemetry = False


class StripeUnavailableError(UnavailableError):
    """Stripe did not answer, or answered with a server error; retry later."""


class StripeNotFoundError(NotFoundError):
    """Stripe does not know the object."""


class StripeRejectedError(InvalidError):
    """Stripe refused the request as invalid; the message is Stripe's."""


def idempotency_key(*parts: str) -> str:
    """Return a stable idempotency key for one logical create call."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]
    return f"entitlements-{digest}"


def _wire(value: Any) -> Any:
    # The SDK parses Stripe's decimal strings (unit_amount_decimal) into Decimal; keep them
    # as the strings Stripe sent, so objects stay JSON (events are stored as JSON).
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"unexpected {type(value).__name__} in a Stripe object")


def _plain(obj: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(obj.to_dict(), default=_wire))
    return result


class StripeGateway:
    """Every Stripe call the service makes, with timeouts, retries and idempotency keys."""

    def __init__(self, secret_key: str, api_base: str | None = None) -> None:
        addresses: dict[str, str] = {"api": api_base.rstrip("/")} if api_base else {}
        self.livemode = secret_key.startswith(("sk_live_", "rk_live_"))
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=addresses,  # type: ignore[arg-type]
            stripe_version=STRIPE_API_VERSION,
            max_network_retries=MAX_RETRIES,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        )

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return _plain(fn(*args, **kwargs))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise StripeNotFoundError(str(exc.user_message or exc)) from exc
            raise StripeRejectedError(str(exc.user_message or exc)) from exc
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise StripeUnavailableError(
                f"Stripe is unavailable ({type(exc).__name__}); retry shortly"
            ) from exc

    # ---- customers, checkout, portal ----------------------------------------------------

    def create_customer(self, account_id: str, *, email: str | None) -> dict[str, Any]:
        """Create the one Stripe customer of an account (idempotent per account)."""
        params: dict[str, Any] = {"metadata": {"account_id": account_id}}
        if email:
            params["email"] = email
        return self._call(
            self._client.v1.customers.create,
            params=params,
            options={"idempotency_key": idempotency_key("customer", account_id)},
        )

    def retrieve_customer(self, customer_id: str) -> dict[str, Any]:
        """Return a customer."""
        return self._call(self._client.v1.customers.retrieve, customer_id)

    def find_price(self, lookup_key: str) -> dict[str, Any] | None:
        """Return the active price with this lookup key, or None."""
        page = self._call(
            self._client.v1.prices.list,
            params={"lookup_keys": [lookup_key], "active": True, "limit": 1},
        )
        data: list[dict[str, Any]] = page.get("data", [])
        return data[0] if data else None

    def create_checkout_session(
        self,
        *,
        account_id: str,
        customer_id: str,
        price_id: str,
        success_url: str,
        cancel_url: str,
        attempt: str,
    ) -> dict[str, Any]:
        """Create a subscription-mode Checkout Session tied to the account."""
        return self._call(
            self._client.v1.checkout.sessions.create,
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": account_id,
                "line_items": [{"price": price_id, "quantity": 1}],
                "success_url": success_url,
                "cancel_url": cancel_url,
                "allow_promotion_codes": True,
                "subscription_data": {"metadata": {"account_id": account_id}},
                "metadata": {"account_id": account_id},
            },
            options={"idempotency_key": idempotency_key("checkout", account_id, price_id, attempt)},
        )

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        """Return a Checkout Session."""
        return self._call(self._client.v1.checkout.sessions.retrieve, session_id)

    def create_portal_session(
        self, *, customer_id: str, return_url: str, attempt: str
    ) -> dict[str, Any]:
        """Create a customer portal session."""
        return self._call(
            self._client.v1.billing_portal.sessions.create,
            params={"customer": customer_id, "return_url": return_url},
            options={"idempotency_key": idempotency_key("portal", customer_id, attempt)},
        )

    # ---- what webhooks and reconciliation re-fetch --------------------------------------

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        """Return the current state of a subscription, prices expanded."""
        return self._call(
            self._client.v1.subscriptions.retrieve,
            subscription_id,
            params={"expand": ["items.data.price"]},
        )

    def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
        """Return an invoice."""
        return self._call(self._client.v1.invoices.retrieve, invoice_id)

    def retrieve_charge(self, charge_id: str) -> dict[str, Any]:
        """Return a charge."""
        return self._call(self._client.v1.charges.retrieve, charge_id)

    def invoice_for_charge(self, charge: dict[str, Any]) -> str | None:
        """Return the invoice a charge paid, or None for a charge outside invoicing.

        Since API version 2025-03-31.basil a charge no longer names its invoice; the
        invoice's payments name the charge's payment intent instead.
        """
        if charge.get("invoice"):  # older API versions
            invoice = charge["invoice"]
            return str(invoice["id"] if isinstance(invoice, dict) else invoice)
        payment_intent = charge.get("payment_intent")
        if not payment_intent:
            return None
        page = self._call(
            self._client.v1.invoice_payments.list,
            params={
                "payment": {"type": "payment_intent", "payment_intent": str(payment_intent)},
                "limit": 1,
            },
        )
        data: list[dict[str, Any]] = page.get("data", [])
        return str(data[0]["invoice"]) if data else None

    def retrieve_dispute(self, dispute_id: str) -> dict[str, Any]:
        """Return a dispute."""
        return self._call(self._client.v1.disputes.retrieve, dispute_id)

    def retrieve_event(self, event_id: str) -> dict[str, Any]:
        """Return an event."""
        return self._call(self._client.v1.events.retrieve, event_id)

    def iter_subscriptions(self, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Yield every subscription of every status, newest first, page by page."""
        yield from self._paginate(
            self._client.v1.subscriptions.list,
            {"status": "all", "limit": page_size, "expand": ["data.items.data.price"]},
        )

    def iter_events(
        self, *, created_gte: int, undelivered_only: bool, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Yield events created since `created_gte` (unix seconds), newest first."""
        params: dict[str, Any] = {"limit": page_size, "created": {"gte": created_gte}}
        if undelivered_only:
            params["delivery_success"] = False
        yield from self._paginate(self._client.v1.events.list, params)

    def _paginate(self, fn: Any, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        starting_after: str | None = None
        while True:
            page_params = dict(params)
            if starting_after:
                page_params["starting_after"] = starting_after
            page = self._call(fn, params=page_params)
            data: list[dict[str, Any]] = page.get("data", [])
            yield from data
            if not page.get("has_more") or not data:
                return
            starting_after = data[-1]["id"]
