"""The only module that imports `stripe`: a narrow gateway returning plain dicts."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import stripe

from ..errors import InvalidError, NotFoundError, UnavailableError
from ..forksafe import renew_after_fork

# Pinned: the objects we parse are shaped by this version (periods live on items).
STRIPE_API_VERSION = "2026-10-28.endive"
# One retry: two tries of every call a request makes must end before gunicorn's worker
# timeout (60 s, server.py) kills the worker with the request half done.
TIMEOUT_SECONDS = 5.0
MAX_RETRIES = 1

# The SDK reports request timings to Stripe unless told not to; we send nothing extra.
stripe.enable_telemetry = False
# The SDK logs every request line at INFO; at our INFO level that floods the log with Stripe's
# URLs. Its warnings and errors still show.
logging.getLogger("stripe").setLevel(logging.WARNING)


class StripeUnavailableError(UnavailableError):
    """Stripe did not answer, or answered with a server error; retry later."""


class StripeNotFoundError(NotFoundError):
    """Stripe does not know the object."""


class StripeRejectedError(InvalidError):
    """Stripe refused the request as invalid; the message is Stripe's."""

    code: str | None = None  # Stripe's error code, e.g. charge_already_refunded


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

    def __init__(
        self, secret_key: str, api_base: str | None = None, *, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.livemode = secret_key.startswith(("sk_live_", "rk_live_"))
        self._secret_key, self._api_base, self._timeout = secret_key, api_base, timeout
        self._client = self._connect()
        # The HTTP client keeps connections alive; a forked worker builds its own.
        renew_after_fork(self, StripeGateway._reconnect)

    def _connect(self) -> stripe.StripeClient:
        addresses: dict[str, str] = {"api": self._api_base.rstrip("/")} if self._api_base else {}
        return stripe.StripeClient(
            self._secret_key,
            base_addresses=addresses,  # type: ignore[arg-type]
            stripe_version=STRIPE_API_VERSION,
            max_network_retries=MAX_RETRIES,
            http_client=stripe.RequestsClient(timeout=self._timeout),
        )

    def _reconnect(self) -> None:
        self._client = self._connect()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return _plain(fn(*args, **kwargs))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise StripeNotFoundError(str(exc.user_message or exc)) from exc
            rejected = StripeRejectedError(str(exc.user_message or exc))
            rejected.code = exc.code
            raise rejected from exc
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise StripeUnavailableError(
                f"Stripe is unavailable ({type(exc).__name__}); retry shortly"
            ) from exc
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            # Our key, not the request: a 503 lets Stripe redeliver once the operator fixes it.
            raise StripeUnavailableError(
                f"Stripe refused this service's API key ({type(exc).__name__}); "
                "check ENTITLEMENTS_STRIPE_SECRET_KEY and its permissions"
            ) from exc
        except stripe.StripeError as exc:  # e.g. an idempotency key reused with other parameters
            # Permanent, like a 400: retrying the same request would be refused the same way.
            rejected = StripeRejectedError(str(exc.user_message or exc))
            rejected.code = exc.code
            raise rejected from exc

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

    def expire_checkout_session(self, session_id: str) -> dict[str, Any]:
        """Expire an open Checkout Session; one no longer open is returned as it is."""
        try:
            return self._call(
                self._client.v1.checkout.sessions.expire,
                session_id,
                options={"idempotency_key": idempotency_key("expire", session_id)},
            )
        except StripeRejectedError:
            # Stripe expires only open sessions: one paid or expired meanwhile is settled.
            current = self.retrieve_checkout_session(session_id)
            if current.get("status") == "open":
                raise
            return current

    def create_portal_session(
        self, *, customer_id: str, return_url: str, attempt: str
    ) -> dict[str, Any]:
        """Create a customer portal session."""
        return self._call(
            self._client.v1.billing_portal.sessions.create,
            params={"customer": customer_id, "return_url": return_url},
            options={"idempotency_key": idempotency_key("portal", customer_id, attempt)},
        )

    def create_test_subscription(
        self, *, account_id: str, customer_id: str, price_id: str
    ) -> dict[str, Any]:
        """Subscribe a customer with Stripe's test Visa card (demo data; refused in live mode)."""
        if self.livemode:
            raise StripeRejectedError("demo subscriptions are made only with a test key")
        return self._call(
            self._client.v1.subscriptions.create,
            params={
                "customer": customer_id,
                "items": [{"price": price_id}],
                "default_payment_method": "pm_card_visa",
                "metadata": {"account_id": account_id},
            },
            options={"idempotency_key": idempotency_key("subscription", account_id, price_id)},
        )

    # ---- what webhooks and reconciliation re-fetch --------------------------------------

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        """Return the current state of a subscription, prices expanded."""
        return self._call(
            self._client.v1.subscriptions.retrieve,
            subscription_id,
            params={"expand": ["items.data.price"]},
        )

    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        """Cancel a subscription at once (idempotent); an ended one is returned as it is."""
        try:
            self._call(
                self._client.v1.subscriptions.cancel,
                subscription_id,
                options={"idempotency_key": idempotency_key("cancel", subscription_id)},
            )
        except (StripeRejectedError, StripeNotFoundError):
            # Stripe answers a second cancel with 404 "No such subscription", though the
            # subscription can still be retrieved: one already ended is what we want.
            current = self.retrieve_subscription(subscription_id)
            if current.get("status") not in ("canceled", "incomplete_expired"):
                raise
            return current
        return self.retrieve_subscription(subscription_id)

    def refund_invoice(self, invoice_id: str) -> list[dict[str, Any]]:
        """Refund in full every payment of an invoice (idempotent); return the refunds made."""
        page = self._call(
            self._client.v1.invoice_payments.list,
            params={"invoice": invoice_id, "limit": 10},
        )
        refunds = []
        for payment in page.get("data", []):
            intent = (payment.get("payment") or {}).get("payment_intent")
            if payment.get("status") != "paid" or not intent:
                continue
            try:
                refunds.append(
                    self._call(
                        self._client.v1.refunds.create,
                        params={"payment_intent": str(intent), "reason": "duplicate"},
                        options={"idempotency_key": idempotency_key("refund", str(intent))},
                    )
                )
            except StripeRejectedError as exc:
                # Refunded already (by an admin, or by us before our transaction rolled back).
                if exc.code != "charge_already_refunded":
                    raise
        return refunds

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
