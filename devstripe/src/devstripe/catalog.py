"""Customers, products, prices, coupons and promotion codes built from API parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devstripe import billing, shapes
from devstripe.errors import StripeError, invalid, missing
from devstripe.forms import (
    Params,
    apply_metadata,
    get_bool,
    get_dict,
    get_int,
    get_str,
)

if TYPE_CHECKING:
    from devstripe.store import Store

Obj = dict[str, Any]
INTERVALS = ("day", "week", "month", "year")


def new_customer(
    st: Store,
    *,
    email: str | None,
    name: str | None = None,
    clock: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Obj:
    """Create and announce a customer."""
    cust = shapes.customer(st, email=email, name=name, clock=clock)
    cust["metadata"] = dict(metadata or {})
    st.put(cust)
    st.emit("customer.created", cust)
    return cust


def create_customer(st: Store, params: Params) -> Obj:
    """`POST /v1/customers` (supports `payment_method` test tokens and `test_clock`)."""
    clock = None
    if params.get("test_clock"):
        clock = st.require(
            params["test_clock"], "test_helpers.test_clock", "test clock", "test_clock"
        )["id"]
    cust = shapes.customer(
        st, email=get_str(params, "email"), name=get_str(params, "name"), clock=clock
    )
    cust["metadata"] = apply_metadata({}, params)
    cust["description"] = get_str(params, "description")
    cust["phone"] = get_str(params, "phone")
    st.put(cust)
    st.emit("customer.created", cust)
    if params.get("payment_method") or get_dict(params, "invoice_settings"):
        update_customer(
            st, cust, {k: params[k] for k in ("payment_method", "invoice_settings") if k in params}
        )
    return cust


def update_customer(st: Store, cust: Obj, params: Params) -> None:
    """`POST /v1/customers/{id}`."""
    with st.tracking(cust, "customer.updated"):
        for key in ("email", "name", "description", "phone"):
            if key in params:
                cust[key] = get_str(params, key) or None
        cust["metadata"] = apply_metadata(cust["metadata"], params)
        pm_id = None
        if params.get("payment_method"):
            pm_id = billing.resolve_pm(st, params["payment_method"], cust)["id"]
        settings = get_dict(params, "invoice_settings")
        ref = settings.get("default_payment_method")
        if ref:
            if ref == params.get("payment_method") and pm_id:
                cust["invoice_settings"]["default_payment_method"] = pm_id
            else:
                pm = billing.resolve_pm(st, ref, cust, "invoice_settings[default_payment_method]")
                cust["invoice_settings"]["default_payment_method"] = pm["id"]
        elif ref == "":
            cust["invoice_settings"]["default_payment_method"] = None


def create_product(st: Store, params: Params, *, announce: bool = True) -> Obj:
    """`POST /v1/products`."""
    name = get_str(params, "name")
    if not name:
        raise missing("name")
    if params.get("id") and st.get(params["id"]):
        raise StripeError("Product already exists.", code="resource_already_exists", param="id")
    prod = shapes.product(st, name=name, obj_id=get_str(params, "id"))
    prod["description"] = get_str(params, "description")
    prod["active"] = get_bool(params, "active", True)
    prod["metadata"] = apply_metadata({}, params)
    st.put(prod)
    if announce:
        st.emit("product.created", prod)
    return prod


def update_product(st: Store, prod: Obj, params: Params) -> None:
    """`POST /v1/products/{id}`."""
    with st.tracking(prod, "product.updated"):
        for key in ("name", "description", "default_price"):
            if key in params:
                prod[key] = get_str(params, key) or None
        if "active" in params:
            prod["active"] = get_bool(params, "active")
        prod["metadata"] = apply_metadata(prod["metadata"], params)
        prod["updated"] = st.now()


def _claim_lookup_key(st: Store, key: str | None, transfer: bool, owner: str | None = None) -> None:
    if not key:
        return
    for other in st.all("price"):
        if other["lookup_key"] == key and other["id"] != owner:
            if not transfer:
                raise invalid(
                    "lookup_key", f"A price (`{other['id']}`) already uses that lookup key."
                )
            with st.tracking(other, "price.updated"):
                other["lookup_key"] = None


def create_price(st: Store, params: Params, *, announce: bool = True) -> Obj:
    """`POST /v1/prices` (product id or `product_data[name]`)."""
    currency = get_str(params, "currency")
    if not currency:
        raise missing("currency")
    unit_amount = get_int(params, "unit_amount")
    if unit_amount is None:
        raise missing("unit_amount")
    if params.get("product"):
        product_id = st.require(params["product"], "product", "product", "product")["id"]
    elif get_dict(params, "product_data").get("name"):
        product_id = create_product(st, get_dict(params, "product_data"), announce=announce)["id"]
    else:
        raise missing("product")
    rec = get_dict(params, "recurring")
    interval = get_str(rec, "interval") if rec else None
    if rec and interval not in INTERVALS:
        raise invalid(
            "recurring[interval]",
            "Invalid recurring[interval]: must be one of day, week, month, or year",
        )
    lookup_key = get_str(params, "lookup_key")
    _claim_lookup_key(st, lookup_key, bool(get_bool(params, "transfer_lookup_key")))
    price = shapes.price(
        st,
        product_id=product_id,
        unit_amount=unit_amount,
        currency=currency.lower(),
        interval=interval,
        interval_count=get_int(rec, "interval_count", 1) or 1,
        lookup_key=lookup_key,
        nickname=get_str(params, "nickname"),
        obj_id=get_str(params, "id"),
    )
    price["active"] = get_bool(params, "active", True)
    price["metadata"] = apply_metadata({}, params)
    st.put(price)
    prod = st.objects[product_id]
    if prod["default_price"] is None:
        prod["default_price"] = price["id"]
    if announce:
        st.emit("price.created", price)
    return price


def update_price(st: Store, price: Obj, params: Params) -> None:
    """`POST /v1/prices/{id}` (active, nickname, lookup_key, metadata)."""
    with st.tracking(price, "price.updated"):
        if "active" in params:
            price["active"] = get_bool(params, "active")
        if "nickname" in params:
            price["nickname"] = get_str(params, "nickname") or None
        if "lookup_key" in params:
            key = get_str(params, "lookup_key") or None
            _claim_lookup_key(st, key, bool(get_bool(params, "transfer_lookup_key")), price["id"])
            price["lookup_key"] = key
        price["metadata"] = apply_metadata(price["metadata"], params)


def create_coupon(st: Store, params: Params, *, announce: bool = True) -> Obj:
    """`POST /v1/coupons` (percent_off or amount_off+currency)."""
    pct = params.get("percent_off")
    amount_off = get_int(params, "amount_off")
    if pct in (None, "") and amount_off is None:
        raise missing("percent_off")
    duration = get_str(params, "duration", "once") or "once"
    if duration not in ("once", "forever", "repeating"):
        raise invalid("duration", "Invalid duration")
    if params.get("id") and st.get(params["id"]):
        raise StripeError("Coupon already exists.", code="resource_already_exists", param="id")
    try:
        percent = float(pct) if pct not in (None, "") else None
    except (TypeError, ValueError):
        raise invalid("percent_off", f"Invalid decimal: {pct}") from None
    coupon = shapes.coupon(
        st,
        obj_id=get_str(params, "id"),
        percent_off=percent,
        amount_off=amount_off,
        currency=get_str(params, "currency"),
        duration=duration,
        duration_in_months=get_int(params, "duration_in_months"),
        name=get_str(params, "name"),
    )
    coupon["metadata"] = apply_metadata({}, params)
    st.put(coupon)
    if announce:
        st.emit("coupon.created", coupon)
    return coupon


def create_promotion_code(st: Store, params: Params, *, announce: bool = True) -> Obj:
    """`POST /v1/promotion_codes` (`promotion[coupon]`, or the older `coupon`)."""
    coupon_ref = get_dict(params, "promotion").get("coupon") or params.get("coupon")
    if not coupon_ref:
        raise missing("promotion[coupon]")
    coupon = st.require(coupon_ref, "coupon", "coupon", "promotion[coupon]")
    code = (get_str(params, "code") or st.new_id("CODE").split("_")[1][:8]).upper()
    if find_promotion_code(st, code):
        raise invalid("code", "An active promotion code with that code already exists.")
    promo = shapes.promotion_code(
        st, code=code, coupon_id=coupon["id"], obj_id=get_str(params, "id")
    )
    promo["metadata"] = apply_metadata({}, params)
    st.put(promo)
    if announce:
        st.emit("promotion_code.created", promo)
    return promo


def find_promotion_code(st: Store, code: str) -> Obj | None:
    """The active promotion code matching `code` (case-insensitive)."""
    for promo in st.all("promotion_code"):
        if promo["active"] and promo["code"].upper() == code.strip().upper():
            return promo
    return None


def seed(st: Store) -> None:
    """The demo catalog: product Plus, monthly/annual prices, and the WELCOME10 code."""
    create_product(
        st,
        {
            "id": "prod_plus",
            "name": "Plus",
            "description": "Everything in Free, plus premium content.",
        },
        announce=False,
    )
    create_price(
        st,
        {
            "id": "price_plus_monthly",
            "product": "prod_plus",
            "unit_amount": "500",
            "currency": "usd",
            "recurring": {"interval": "month"},
            "lookup_key": "plus_monthly",
            "nickname": "Plus monthly",
        },
        announce=False,
    )
    create_price(
        st,
        {
            "id": "price_plus_annual",
            "product": "prod_plus",
            "unit_amount": "5000",
            "currency": "usd",
            "recurring": {"interval": "year"},
            "lookup_key": "plus_annual",
            "nickname": "Plus annual",
        },
        announce=False,
    )
    create_coupon(
        st,
        {"id": "welcome10", "percent_off": "10", "duration": "once", "name": "Welcome 10% off"},
        announce=False,
    )
    create_promotion_code(
        st, {"id": "promo_welcome10", "code": "WELCOME10", "coupon": "welcome10"}, announce=False
    )
