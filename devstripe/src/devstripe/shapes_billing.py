"""Constructors for billing objects: subscriptions, items, invoices, charges, discounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devstripe import cards
from devstripe.shapes import base

if TYPE_CHECKING:
    from devstripe.store import Store

Obj = dict[str, Any]


def subscription(st: Store, *, customer: Obj, currency: str) -> Obj:
    """A subscription shell; items, periods and status are filled by billing."""
    clock = customer["_clock"]
    obj = base(st, "sub", "subscription", clock)
    obj.update(
        {
            "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": obj["created"],
            "billing_cycle_anchor_config": None,
            "billing_mode": {
                "flexible": {"proration_discounts": "included"},
                "type": "flexible",
                "updated_at": obj["created"],
            },
            "billing_thresholds": None,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically",
            "currency": currency,
            "customer": customer["id"],
            "days_until_due": None,
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": [],
            "ended_at": None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "latest_invoice": None,
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None,
            "pause_collection": None,
            "payment_settings": {
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": obj["created"],
            "status": "incomplete",
            "test_clock": clock,
            "transfer_data": None,
            "trial_end": None,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": None,
            "_items": [],
        }
    )
    return obj


def subscription_item(
    st: Store, *, sub: Obj, price_id: str, quantity: int, start: int, end: int
) -> Obj:
    """An item; in this API version the billing period lives here, not on the subscription."""
    obj = base(st, "si", "subscription_item", sub["_clock"])
    obj.update(
        {
            "billing_thresholds": None,
            "current_period_end": end,
            "current_period_start": start,
            "discounts": [],
            "price": price_id,
            "quantity": quantity,
            "subscription": sub["id"],
            "tax_rates": [],
        }
    )
    return obj


def invoice(
    st: Store,
    *,
    customer: Obj,
    sub: Obj | None,
    billing_reason: str,
    period_start: int,
    period_end: int,
) -> Obj:
    """A draft invoice; `subscription`/`charge` are kept at top level for older integrations."""
    obj = base(st, "in", "invoice", customer["_clock"])
    parent = None
    if sub is not None:
        parent = {
            "quote_details": None,
            "type": "subscription_details",
            "subscription_details": {
                "metadata": dict(sub["metadata"]),
                "subscription": sub["id"],
                "subscription_proration_date": None,
            },
        }
    obj.update(
        {
            "account_country": "US",
            "account_name": "devstripe",
            "amount_due": 0,
            "amount_overpaid": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "amount_shipping": 0,
            "application": None,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": True,
            "automatic_tax": {
                "disabled_reason": None,
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            "billing_reason": billing_reason,
            "collection_method": "charge_automatically",
            "currency": sub["currency"] if sub else "usd",
            "customer": customer["id"],
            "customer_email": customer.get("email"),
            "customer_name": customer.get("name"),
            "default_payment_method": None,
            "description": None,
            "discounts": [],
            "due_date": None,
            "effective_at": None,
            "ending_balance": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "last_finalization_error": None,
            "next_payment_attempt": None,
            "number": None,
            "parent": parent,
            "period_end": period_end,
            "period_start": period_start,
            "starting_balance": 0,
            "status": "draft",
            "status_transitions": {
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subscription": sub["id"] if sub else None,
            "subtotal": 0,
            "subtotal_excluding_tax": 0,
            "test_clock": customer["_clock"],
            "total": 0,
            "total_discount_amounts": [],
            "total_excluding_tax": 0,
            "total_pretax_credit_amounts": [],
            "total_taxes": [],
            "webhooks_delivered_at": None,
            "_lines": [],
            "_payments": [],
        }
    )
    return obj


def charge(st: Store, *, inv: Obj, pm: Obj | None, amount: int, outcome: cards.Outcome) -> Obj:
    """A charge for an invoice attempt (succeeded or failed)."""
    obj = base(st, "ch", "charge", inv["_clock"])
    ok = outcome.status == "succeeded"
    card = dict(pm["card"]) if pm else {}
    obj.update(
        {
            "amount": amount,
            "amount_captured": amount if ok else 0,
            "amount_refunded": 0,
            "application_fee_amount": None,
            "balance_transaction": None,
            "billing_details": {
                "address": None,
                "email": inv.get("customer_email"),
                "name": None,
                "phone": None,
            },
            "captured": ok,
            "currency": inv["currency"],
            "customer": inv["customer"],
            "description": f"Invoice {inv.get('number')}",
            "disputed": False,
            "failure_code": None if ok else outcome.code,
            "failure_message": None if ok else outcome.message,
            # Since 2025-03-31.basil a charge no longer names its invoice: the invoice's
            # payments name the charge's payment intent (see /v1/invoice_payments).
            "outcome": {
                "network_status": "approved_by_network" if ok else "declined_by_network",
                "reason": None if ok else outcome.decline_code,
                "risk_level": "normal",
                "seller_message": "Payment complete."
                if ok
                else "The bank did not return any further details with this decline.",
                "type": "authorized" if ok else "issuer_declined",
            },
            "paid": ok,
            "payment_intent": st.new_id("pi"),
            "payment_method": pm["id"] if pm else None,
            "payment_method_details": {"card": card, "type": "card"},
            "receipt_email": None,
            "receipt_url": None,
            "refunded": False,
            "status": "succeeded" if ok else "failed",
            "statement_descriptor": None,
            "_refunds": [],
        }
    )
    return obj


def discount(
    st: Store,
    *,
    coupon_id: str,
    promo_id: str | None,
    customer_id: str,
    start: int,
    session_id: str | None = None,
) -> Obj:
    """A discount applying a coupon to a subscription."""
    obj = base(st, "di", "discount")
    obj.update(
        {
            "checkout_session": session_id,
            "customer": customer_id,
            "end": None,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": promo_id,
            "source": {"coupon": coupon_id, "type": "coupon"},
            "start": start,
            "subscription": None,
            "subscription_item": None,
        }
    )
    return obj
