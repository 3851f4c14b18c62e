"""Checkout sessions and billing-portal sessions: creation and what the hosted pages do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devstripe import billing, cards, catalog, engine, shapes, subscriptions
from devstripe.clock import DAY
from devstripe.errors import StripeError, invalid, missing
from devstripe.forms import (
    Params,
    apply_metadata,
    get_bool,
    get_dict,
    get_int,
    get_list,
    get_str,
)

if TYPE_CHECKING:
    from devstripe.store import Store

Obj = dict[str, Any]
AUTH_FAILED = (
    "We are unable to authenticate your payment method. "
    "Please choose a different payment method and try again."
)


@dataclass
class PayResult:
    """What the hosted checkout page should show after a submission."""

    status: str  # complete | requires_action | declined | error
    message: str | None = None
    redirect: str | None = None


def _discounts(st: Store, params: Params) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for i, spec in enumerate(get_list(params, "discounts")):
        if not isinstance(spec, dict):
            raise invalid(f"discounts[{i}]", "Invalid hash")
        if spec.get("promotion_code"):
            promo = st.require(
                spec["promotion_code"],
                "promotion_code",
                "promotion code",
                f"discounts[{i}][promotion_code]",
            )
            out.append((promo["promotion"]["coupon"], promo["id"]))
        elif spec.get("coupon"):
            out.append(
                (
                    st.require(spec["coupon"], "coupon", "coupon", f"discounts[{i}][coupon]")["id"],
                    None,
                )
            )
    return out


def create_session(st: Store, params: Params, base_url: str) -> Obj:
    """`POST /v1/checkout/sessions` for mode=subscription."""
    mode = get_str(params, "mode")
    if not mode:
        raise missing("mode")
    if mode != "subscription":
        raise invalid("mode", "devstripe only supports checkout sessions with mode=subscription.")
    specs = get_list(params, "line_items")
    if not specs:
        raise missing("line_items")
    cust = None
    if params.get("customer"):
        cust = st.require(params["customer"], "customer", "customer", "customer")
        if params.get("customer_email"):
            raise StripeError(
                "You may only specify one of these parameters: customer, customer_email."
            )
    if get_bool(params, "allow_promotion_codes") and params.get("discounts"):
        raise StripeError(
            "You may only specify one of these parameters: allow_promotion_codes, discounts."
        )
    discounts = _discounts(st, params)
    clock = cust["_clock"] if cust else None
    sid = st.new_id("cs_test")
    lines, subtotal, intervals = [], 0, set()
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or not spec.get("price"):
            raise missing(f"line_items[{i}][price]")
        price = st.require(spec["price"], "price", "price", f"line_items[{i}][price]")
        if not price["recurring"]:
            raise invalid(
                f"line_items[{i}][price]",
                "You must provide at least one recurring price in "
                "`subscription` mode when using prices.",
            )
        if not price["active"]:
            raise invalid(f"line_items[{i}][price]", f"The price `{price['id']}` is not active.")
        intervals.add((price["recurring"]["interval"], price["recurring"]["interval_count"]))
        qty = get_int(spec, "quantity", 1) or 1
        amount = int(price["unit_amount"]) * qty
        subtotal += amount
        lines.append(
            {
                "id": st.new_id("li"),
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": price["currency"],
                "description": st.objects[price["product"]]["name"],
                "metadata": {},
                "price": price["id"],
                "quantity": qty,
            }
        )
    if len(intervals) > 1:
        raise invalid(
            "line_items", "All prices on a subscription must have the same recurring interval."
        )
    sub_data = get_dict(params, "subscription_data")
    trial_days = get_int(sub_data, "trial_period_days")
    if trial_days is not None and trial_days < 1:
        raise invalid(
            "subscription_data[trial_period_days]", "trial_period_days must be at least 1."
        )
    now = st.now(clock)
    trial_end = get_int(sub_data, "trial_end") or (now + trial_days * DAY if trial_days else None)
    off = 0 if trial_end else sum(billing.coupon_off(st.objects[c], subtotal) for c, _ in discounts)
    sess = shapes.base(st, "", "checkout.session", clock, obj_id=sid)
    sess.update(
        {
            "adaptive_pricing": None,
            "after_expiration": None,
            "allow_promotion_codes": get_bool(params, "allow_promotion_codes"),
            "amount_subtotal": subtotal,
            "amount_total": 0 if trial_end else subtotal - off,
            "automatic_tax": {
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            "billing_address_collection": None,
            "cancel_url": get_str(params, "cancel_url"),
            "client_reference_id": get_str(params, "client_reference_id"),
            "client_secret": None,
            "consent": None,
            "consent_collection": None,
            "currency": lines[0]["currency"],
            "custom_fields": [],
            "customer": cust["id"] if cust else None,
            "customer_creation": None if cust else "always",
            "customer_details": None,
            "customer_email": get_str(params, "customer_email"),
            "discounts": [{"coupon": c, "promotion_code": p} for c, p in discounts],
            "expires_at": get_int(params, "expires_at") or now + DAY,
            "invoice": None,
            "invoice_creation": None,
            "locale": None,
            "mode": mode,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "always",
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "phone_number_collection": {"enabled": False},
            "recovered_from": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "status": "open",
            "submit_type": None,
            "subscription": None,
            "success_url": get_str(params, "success_url"),
            "total_details": {"amount_discount": off, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{base_url}/checkout/{sid}",
            "_line_items": lines,
            "_trial_end": trial_end,
            # Stripe starts a trial_period_days trial when the subscription is created.
            "_trial_days": trial_days if not get_int(sub_data, "trial_end") else None,
            "_discounts": discounts,
            "_sub_metadata": apply_metadata({}, sub_data),
            "_subscription": None,
            "_pending_invoice": None,
        }
    )
    sess["metadata"] = apply_metadata({}, params)
    return st.put(sess)


def check_open(st: Store, sess: Obj) -> None:
    """Expire the session if its time has passed; raise if it can no longer be paid."""
    if sess["status"] == "open" and st.now_for(sess) >= int(sess["expires_at"]):
        engine.expire_session(st, sess)
    if sess["status"] != "open":
        raise StripeError("This Checkout Session is no longer active.", param="session")


def _complete(st: Store, sess: Obj, sub: Obj, inv: Obj) -> PayResult:
    cust = st.objects[sub["customer"]]
    sess.update(
        {
            "status": "complete",
            "customer": cust["id"],
            "subscription": sub["id"],
            "invoice": inv["id"],
            "payment_status": "paid" if inv["amount_paid"] > 0 else "no_payment_required",
            "url": None,
            "customer_details": {
                "address": None,
                "email": cust["email"],
                "name": cust["name"],
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
            "amount_total": inv["total"] if not sess["_trial_end"] else 0,
            "_pending_invoice": None,
        }
    )
    off = sum(d["amount"] for d in inv["total_discount_amounts"])
    sess["total_details"]["amount_discount"] = off
    st.emit("checkout.session.completed", sess)
    url = sess["success_url"]
    return PayResult(
        "complete", redirect=url.replace("{CHECKOUT_SESSION_ID}", sess["id"]) if url else None
    )


def _precheck(
    st: Store, sess: Obj, email: str | None, number: str, promotion_code: str | None
) -> PayResult | list[tuple[str, str | None]]:
    """Validate a submission; returns an error result or the discounts to apply."""
    try:
        check_open(st, sess)
    except StripeError as exc:
        return PayResult("error", exc.message)
    discounts = list(sess["_discounts"])
    if promotion_code and promotion_code.strip():
        promo = None
        if sess["allow_promotion_codes"]:
            promo = catalog.find_promotion_code(st, promotion_code)
        if promo is None:
            return PayResult("error", "This code is invalid.")
        discounts = [(promo["promotion"]["coupon"], promo["id"])]
    cust = st.get(sess["customer"] or "", "customer")
    if cust is None and not (email or "").strip():
        return PayResult("error", "Your email is incomplete.")
    refused = cards.attach_error(number)
    if refused:
        return PayResult("declined", refused[1])
    # The first charge happens right here, so a card that fails charges is declined on the page.
    if number == cards.ATTACH_THEN_FAIL or (cust is not None and cust["id"] in st.card_fails):
        return PayResult("declined", "Your card was declined.")
    return discounts


def submit_payment(
    st: Store, sess: Obj, *, email: str | None, card: str, promotion_code: str | None = None
) -> PayResult:
    """What pressing Pay on the hosted page does (also used by the test-helper endpoint)."""
    with st.lock:
        number = cards.normalize(card)
        checked = _precheck(st, sess, email, number, promotion_code)
        if isinstance(checked, PayResult):
            return checked
        if sess["_subscription"]:
            return _retry_incomplete(st, sess, number)
        cust = st.get(sess["customer"] or "", "customer")
        if cust is None:
            cust = catalog.new_customer(st, email=(email or "").strip(), clock=sess["_clock"])
            sess["customer"] = cust["id"]
        elif email and not cust["email"]:
            with st.tracking(cust, "customer.updated"):
                cust["email"] = email.strip()
        pm = billing.attach_card(st, cust, number)
        prices = [(st.objects[li["price"]], int(li["quantity"])) for li in sess["_line_items"]]
        sub, inv, outcome = subscriptions.create(
            st,
            cust=cust,
            prices=prices,
            trial_end=(
                st.now(sess["_clock"]) + sess["_trial_days"] * DAY
                if sess.get("_trial_days")
                else sess["_trial_end"]
            ),
            metadata=sess["_sub_metadata"],
            pm=pm,
            discounts=checked,
            session_id=sess["id"],
            on_session=True,
        )
        sess["_subscription"] = sub["id"]
        sess["discounts"] = [
            {"coupon": c if not p else None, "promotion_code": p} for c, p in checked
        ]
        return _after_attempt(st, sess, sub, inv, outcome)


def _after_attempt(
    st: Store, sess: Obj, sub: Obj, inv: Obj, outcome: cards.Outcome | None
) -> PayResult:
    if inv["status"] == "paid":
        return _complete(st, sess, sub, inv)
    if outcome is not None and outcome.status == "requires_action":
        sess["_pending_invoice"] = inv["id"]
        return PayResult("requires_action")
    return PayResult(
        "declined", (outcome.message if outcome else None) or "Your card was declined."
    )


def _retry_incomplete(st: Store, sess: Obj, number: str) -> PayResult:
    # An earlier attempt left an incomplete subscription (failed 3DS): pay it with the new card.
    sub = st.objects[sess["_subscription"]]
    cust = st.objects[sub["customer"]]
    inv = st.objects[sub["latest_invoice"]]
    if sub["status"] != "incomplete" or inv["status"] != "open":
        return PayResult("error", "This Checkout Session is no longer active.")
    pm = billing.attach_card(st, cust, number)
    with st.tracking(sub, "customer.subscription.updated") as tr:
        sub["default_payment_method"] = pm["id"]
        outcome = billing.attempt_payment(st, inv, on_session=True, pm=pm)
        billing.after_payment(st, sub, inv, outcome, tr)
    return _after_attempt(st, sess, sub, inv, outcome)


def authenticate(st: Store, sess: Obj, success: bool) -> PayResult:
    """The 3D Secure step: complete (pay the invoice) or fail (subscription stays incomplete)."""
    with st.lock:
        inv = st.get(sess.get("_pending_invoice") or "", "invoice")
        if sess["status"] != "open" or inv is None:
            return PayResult("error", "There is no payment waiting for authentication.")
        sub = st.objects[inv["subscription"]]
        cust = st.objects[inv["customer"]]
        sess["_pending_invoice"] = None
        if not success:
            st.emit("invoice.payment_failed", inv)
            return PayResult("declined", AUTH_FAILED)
        with st.tracking(sub, "customer.subscription.updated") as tr:
            billing.collect(st, inv, billing.payment_method_for(st, sub, cust))
            billing.after_payment(st, sub, inv, cards.Outcome("succeeded"), tr)
        return _complete(st, sess, sub, inv)
