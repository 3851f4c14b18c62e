"""Constructors for Stripe-shaped objects (API version 2026-10-28.endive field layout)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devstripe import cards

if TYPE_CHECKING:
    from devstripe.store import Store

Obj = dict[str, Any]


def base(
    st: Store, prefix: str, kind: str, clock: str | None = None, *, obj_id: str | None = None
) -> Obj:
    """Fields every object has; `_clock` records which clock it lives on."""
    return {
        "id": obj_id or st.new_id(prefix),
        "object": kind,
        "created": st.now(clock),
        "livemode": False,
        "metadata": {},
        "_clock": clock,
    }


def customer(st: Store, *, email: str | None, name: str | None, clock: str | None) -> Obj:
    """A customer; `test_clock` ties it (and its subscriptions) to a test clock."""
    obj = base(st, "cus", "customer", clock)
    obj.update(
        {
            "address": None,
            "balance": 0,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": email,
            "invoice_prefix": obj["id"][4:12].upper(),
            "name": name,
            "phone": None,
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "next_invoice_sequence": 1,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": clock,
        }
    )
    return obj


def product(st: Store, *, name: str, obj_id: str | None = None) -> Obj:
    """A product."""
    obj = base(st, "prod", "product", obj_id=obj_id)
    obj.update(
        {
            "active": True,
            "default_price": None,
            "description": None,
            "images": [],
            "marketing_features": [],
            "name": name,
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": None,
            "tax_code": None,
            "unit_label": None,
            "updated": obj["created"],
            "url": None,
        }
    )
    return obj


def price(
    st: Store,
    *,
    product_id: str,
    unit_amount: int,
    currency: str,
    interval: str | None,
    interval_count: int = 1,
    lookup_key: str | None = None,
    nickname: str | None = None,
    obj_id: str | None = None,
) -> Obj:
    """A price; recurring when `interval` is given."""
    obj = base(st, "price", "price", obj_id=obj_id)
    recurring = None
    if interval:
        recurring = {
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
    obj.update(
        {
            "active": True,
            "billing_scheme": "per_unit",
            "currency": currency,
            "custom_unit_amount": None,
            "lookup_key": lookup_key,
            "nickname": nickname,
            "product": product_id,
            "recurring": recurring,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring" if interval else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
    )
    return obj


def coupon(
    st: Store,
    *,
    obj_id: str | None,
    percent_off: float | None,
    amount_off: int | None,
    currency: str | None,
    duration: str,
    duration_in_months: int | None,
    name: str | None,
) -> Obj:
    """A coupon (percent or amount off)."""
    obj = base(st, "coupon", "coupon", obj_id=obj_id)
    obj.update(
        {
            "amount_off": amount_off,
            "currency": currency,
            "duration": duration,
            "duration_in_months": duration_in_months,
            "max_redemptions": None,
            "name": name,
            "percent_off": percent_off,
            "redeem_by": None,
            "times_redeemed": 0,
            "valid": True,
        }
    )
    return obj


def promotion_code(st: Store, *, code: str, coupon_id: str, obj_id: str | None = None) -> Obj:
    """A customer-facing code for a coupon."""
    obj = base(st, "promo", "promotion_code", obj_id=obj_id)
    obj.update(
        {
            "active": True,
            "code": code,
            "customer": None,
            "expires_at": None,
            "max_redemptions": None,
            "promotion": {"coupon": coupon_id, "type": "coupon"},
            "restrictions": {
                "first_time_transaction": False,
                "minimum_amount": None,
                "minimum_amount_currency": None,
            },
            "times_redeemed": 0,
        }
    )
    return obj


def payment_method(st: Store, *, number: str, customer_id: str | None, clock: str | None) -> Obj:
    """A card payment method; the full number is kept privately to decide outcomes."""
    obj = base(st, "pm", "payment_method", clock)
    obj.update(
        {
            "allow_redisplay": "unspecified",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": cards.brand(number),
                "checks": {"cvc_check": "pass"},
                "country": "US",
                "display_brand": cards.brand(number),
                "exp_month": 12,
                "exp_year": 2034,
                "funding": "credit",
                "last4": number[-4:],
                "networks": None,
                "wallet": None,
            },
            "customer": customer_id,
            "type": "card",
            "_number": number,
        }
    )
    return obj
