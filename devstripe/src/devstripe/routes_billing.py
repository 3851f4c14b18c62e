"""`/v1` routes for checkout sessions, billing-portal sessions and subscriptions."""

from __future__ import annotations

from typing import Any

from devstripe import billing, cards, checkout, engine, portal, render, subscriptions
from devstripe.api import api_route, base_url, listing, one, params, state
from devstripe.clock import DAY
from devstripe.errors import StripeError, card_error, invalid, missing
from devstripe.forms import (
    apply_metadata,
    get_bool,
    get_dict,
    get_int,
    get_list,
    get_str,
)

Obj = dict[str, Any]
ENDED = ("canceled", "incomplete_expired")


def _eq(obj: Obj, key: str, value: Any) -> bool:
    return value in (None, "") or obj.get(key) == value


# checkout & portal -------------------------------------------------------------
@api_route("/checkout/sessions", ("POST",))
def create_checkout_session() -> Obj:
    return one(checkout.create_session(state(), params(), base_url()))


@api_route("/checkout/sessions")
def list_checkout_sessions() -> Obj:
    p = params()
    objs = [
        s
        for s in state().all("checkout.session")
        if _eq(s, "customer", p.get("customer"))
        and _eq(s, "subscription", p.get("subscription"))
        and _eq(s, "status", p.get("status"))
    ]
    return listing(objs, "/v1/checkout/sessions")


@api_route("/checkout/sessions/<sid>")
def get_checkout_session(sid: str) -> Obj:
    sess = state().require(sid, "checkout.session", "checkout.session")
    if sess["status"] == "open" and state().now_for(sess) >= sess["expires_at"]:
        engine.expire_session(state(), sess)
    return one(sess)


@api_route("/checkout/sessions/<sid>/expire", ("POST",))
def expire_checkout_session(sid: str) -> Obj:
    sess = state().require(sid, "checkout.session", "checkout.session")
    if sess["status"] != "open":
        raise StripeError(
            'Only Checkout Sessions with a status in ["open"] can be expired.', param="session"
        )
    engine.expire_session(state(), sess)
    return one(sess)


@api_route("/checkout/sessions/<sid>/line_items")
def checkout_line_items(sid: str) -> Obj:
    sess = state().require(sid, "checkout.session", "checkout.session")
    return render.session_line_items(state(), sess)


@api_route("/billing_portal/sessions", ("POST",))
def create_portal_session() -> Obj:
    return one(portal.create_portal_session(state(), params(), base_url()))


# subscriptions -------------------------------------------------------------------
@api_route("/subscriptions", ("POST",))
def create_subscription() -> Obj:
    st, p = state(), params()
    if not p.get("customer"):
        raise missing("customer")
    cust = st.require(p["customer"], "customer", "customer", "customer")
    specs = get_list(p, "items")
    if not specs:
        raise missing("items")
    prices = []
    for i, spec in enumerate(specs):
        price = st.require((spec or {}).get("price"), "price", "price", f"items[{i}][price]")
        if not price["recurring"]:
            raise invalid(f"items[{i}][price]", "The price specified is not recurring.")
        prices.append((price, get_int(spec, "quantity", 1) or 1))
    now = st.now_for(cust)
    days = get_int(p, "trial_period_days")
    trial_end = now + days * DAY if days else None
    if p.get("trial_end") and p["trial_end"] != "now":
        trial_end = get_int(p, "trial_end")
    pm = (
        billing.resolve_pm(st, p["default_payment_method"], cust, "default_payment_method")
        if p.get("default_payment_method")
        else None
    )
    discounts = checkout._discounts(st, p)
    behavior = get_str(p, "payment_behavior", "allow_incomplete") or "allow_incomplete"
    if behavior == "error_if_incomplete" and not trial_end:
        card = pm or billing.payment_method_for(st, None, cust)
        outcome = cards.charge(
            card["_number"] if card else None,
            on_session=True,
            forced_fail=cust["id"] in st.card_fails,
        )
        if outcome.status != "succeeded":
            raise card_error(
                outcome.message or "Your card was declined.",
                outcome.code or "card_declined",
                outcome.decline_code,
            )
    sub, _, _ = subscriptions.create(
        st,
        cust=cust,
        prices=prices,
        trial_end=trial_end,
        metadata=apply_metadata({}, p),
        pm=pm,
        discounts=discounts,
        on_session=True,
        behavior=behavior,
    )
    behaviour = get_dict(get_dict(p, "trial_settings"), "end_behavior").get(
        "missing_payment_method"
    )
    if behaviour in ("cancel", "pause", "create_invoice"):
        sub["trial_settings"]["end_behavior"]["missing_payment_method"] = behaviour
    if get_bool(p, "cancel_at_period_end"):
        subscriptions.update(st, sub, {"cancel_at_period_end": "true"})
    return one(sub)


@api_route("/subscriptions")
def list_subscriptions() -> Obj:
    st, p = state(), params()
    status = get_str(p, "status")

    def status_ok(s: Obj) -> bool:
        if status in (None, ""):
            return s["status"] not in ENDED
        if status == "all":
            return True
        if status == "ended":
            return s["status"] in ENDED
        return bool(s["status"] == status)

    def price_ok(s: Obj) -> bool:
        return not p.get("price") or any(st.objects[i]["price"] == p["price"] for i in s["_items"])

    objs = [
        s
        for s in st.all("subscription")
        if status_ok(s)
        and price_ok(s)
        and _eq(s, "customer", p.get("customer"))
        and _eq(s, "test_clock", p.get("test_clock"))
    ]
    return listing(objs, "/v1/subscriptions")


@api_route("/subscriptions/<sid>")
def get_subscription(sid: str) -> Obj:
    return one(state().require(sid, "subscription", "subscription"))


@api_route("/subscriptions/<sid>", ("POST",))
def update_subscription(sid: str) -> Obj:
    sub = state().require(sid, "subscription", "subscription")
    subscriptions.update(state(), sub, params())
    return one(sub)


@api_route("/subscriptions/<sid>", ("DELETE",))
def cancel_subscription(sid: str) -> Obj:
    sub = state().require(sid, "subscription", "subscription")
    subscriptions.cancel_now(state(), sub)
    return one(sub)


@api_route("/subscriptions/<sid>/pause", ("POST",))
def pause_subscription(sid: str) -> Obj:
    sub = state().require(sid, "subscription", "subscription")
    subscriptions.pause(state(), sub)
    return one(sub)


@api_route("/subscriptions/<sid>/resume", ("POST",))
def resume_subscription(sid: str) -> Obj:
    sub = state().require(sid, "subscription", "subscription")
    subscriptions.resume(state(), sub)
    return one(sub)


@api_route("/subscription_items")
def list_subscription_items() -> Obj:
    st = state()
    sid = get_str(params(), "subscription")
    if not sid:
        raise missing("subscription")
    sub = st.require(sid, "subscription", "subscription", "subscription")
    return listing(
        [st.objects[i] for i in sub["_items"]], f"/v1/subscription_items?subscription={sid}"
    )


@api_route("/subscription_items/<iid>")
def get_subscription_item(iid: str) -> Obj:
    return one(state().require(iid, "subscription_item", "subscription item"))
