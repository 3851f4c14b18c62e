"""`/v1` routes for customers, catalog, payment methods, events, webhook endpoints, test clocks."""

from __future__ import annotations

import re
from typing import Any

from devstripe import billing, catalog, engine, subscriptions
from devstripe.api import api_route, listing, one, params, state
from devstripe.errors import StripeError, invalid, missing
from devstripe.forms import apply_metadata, get_bool, get_int, get_list, get_str

Obj = dict[str, Any]


def _flag(obj: Obj, key: str, value: Any) -> bool:
    return value is None or value == "" or str(obj.get(key)).lower() == str(value).lower()


# customers ---------------------------------------------------------------------
@api_route("/customers", ("POST",))
def create_customer() -> Obj:
    return one(catalog.create_customer(state(), params()))


@api_route("/customers")
def list_customers() -> Obj:
    p = params()
    objs = [
        c
        for c in state().all("customer")
        if not c.get("_deleted")
        and _flag(c, "email", p.get("email"))
        and _flag(c, "test_clock", p.get("test_clock"))
    ]
    return listing(objs, "/v1/customers")


_TERM = re.compile(
    r"""(metadata\[['"](?P<mk>[^'"]+)['"]\]|(?P<field>\w+))\s*(?P<op>[:~])\s*['"](?P<val>[^'"]*)['"]"""
)


@api_route("/customers/search")
def search_customers() -> Obj:
    query = get_str(params(), "query")
    if not query:
        raise missing("query")
    terms = [m.groupdict() for m in _TERM.finditer(query)]
    if not terms:
        raise invalid("query", f"Invalid search query: {query}")

    def hit(c: Obj) -> bool:
        for t in terms:
            have = c["metadata"].get(t["mk"]) if t["mk"] else c.get(t["field"])
            have = "" if have is None else str(have)
            if (t["op"] == ":" and have != t["val"]) or (
                t["op"] == "~" and t["val"].lower() not in have.lower()
            ):
                return False
        return True

    live = [c for c in state().all("customer") if not c.get("_deleted")]
    found = listing([c for c in live if hit(c)], "/v1/customers/search")
    found.update({"object": "search_result", "next_page": None})
    return found


@api_route("/customers/<cid>")
def get_customer(cid: str) -> Obj:
    cust = state().require(cid, "customer", "customer")
    if cust.get("_deleted"):
        return {"id": cid, "object": "customer", "deleted": True}
    return one(cust)


@api_route("/customers/<cid>", ("POST",))
def update_customer(cid: str) -> Obj:
    cust = state().require(cid, "customer", "customer")
    catalog.update_customer(state(), cust, params())
    return one(cust)


@api_route("/customers/<cid>", ("DELETE",))
def delete_customer(cid: str) -> Obj:
    st = state()
    cust = st.require(cid, "customer", "customer")
    # Stripe cancels the customer's subscriptions; the object stays for the billing history.
    for sub in st.all("subscription"):
        if sub["customer"] == cid and sub["status"] not in ("canceled", "incomplete_expired"):
            subscriptions.cancel_now(st, sub)
    cust["_deleted"] = True
    st.emit("customer.deleted", cust)
    return {"id": cid, "object": "customer", "deleted": True}


@api_route("/customers/<cid>/payment_methods")
def customer_payment_methods(cid: str) -> Obj:
    st = state()
    st.require(cid, "customer", "customer")
    return listing(
        [p for p in st.all("payment_method") if p["customer"] == cid],
        f"/v1/customers/{cid}/payment_methods",
    )


# payment methods ---------------------------------------------------------------
@api_route("/payment_methods")
def list_payment_methods() -> Obj:
    cid = params().get("customer")
    return listing(
        [p for p in state().all("payment_method") if cid is None or p["customer"] == cid],
        "/v1/payment_methods",
    )


@api_route("/payment_methods/<pid>")
def get_payment_method(pid: str) -> Obj:
    return one(state().require(pid, "payment_method", "PaymentMethod"))


@api_route("/payment_methods/<pid>/attach", ("POST",))
def attach_payment_method(pid: str) -> Obj:
    st = state()
    cust = st.require(params().get("customer"), "customer", "customer", "customer")
    return one(billing.resolve_pm(st, pid, cust, "payment_method"))


@api_route("/payment_methods/<pid>/detach", ("POST",))
def detach_payment_method(pid: str) -> Obj:
    st = state()
    pm = st.require(pid, "payment_method", "PaymentMethod")
    pm["customer"] = None
    st.emit("payment_method.detached", pm)
    return one(pm)


# products & prices -----------------------------------------------------------
@api_route("/products", ("POST",))
def create_product() -> Obj:
    return one(catalog.create_product(state(), params()))


@api_route("/products")
def list_products() -> Obj:
    p = params()
    ids = get_list(p, "ids")
    objs = [
        o
        for o in state().all("product")
        if _flag(o, "active", p.get("active")) and (not ids or o["id"] in ids)
    ]
    return listing(objs, "/v1/products")


@api_route("/products/<pid>")
def get_product(pid: str) -> Obj:
    return one(state().require(pid, "product", "product"))


@api_route("/products/<pid>", ("POST",))
def update_product(pid: str) -> Obj:
    prod = state().require(pid, "product", "product")
    catalog.update_product(state(), prod, params())
    return one(prod)


@api_route("/prices", ("POST",))
def create_price() -> Obj:
    return one(catalog.create_price(state(), params()))


@api_route("/prices")
def list_prices() -> Obj:
    p = params()
    keys = get_list(p, "lookup_keys")
    interval = (
        (p.get("recurring") or {}).get("interval") if isinstance(p.get("recurring"), dict) else None
    )
    objs = [
        o
        for o in state().all("price")
        if _flag(o, "active", p.get("active"))
        and _flag(o, "product", p.get("product"))
        and _flag(o, "type", p.get("type"))
        and _flag(o, "currency", p.get("currency"))
        and (not keys or o["lookup_key"] in keys)
        and (interval is None or (o["recurring"] or {}).get("interval") == interval)
    ]
    return listing(objs, "/v1/prices")


@api_route("/prices/<pid>")
def get_price(pid: str) -> Obj:
    return one(state().require(pid, "price", "price"))


@api_route("/prices/<pid>", ("POST",))
def update_price(pid: str) -> Obj:
    price = state().require(pid, "price", "price")
    catalog.update_price(state(), price, params())
    return one(price)


# coupons & promotion codes -----------------------------------------------------
@api_route("/coupons", ("POST",))
def create_coupon() -> Obj:
    return one(catalog.create_coupon(state(), params()))


@api_route("/coupons")
def list_coupons() -> Obj:
    return listing(state().all("coupon"), "/v1/coupons")


@api_route("/coupons/<cid>")
def get_coupon(cid: str) -> Obj:
    return one(state().require(cid, "coupon", "coupon"))


@api_route("/promotion_codes", ("POST",))
def create_promotion_code() -> Obj:
    return one(catalog.create_promotion_code(state(), params()))


@api_route("/promotion_codes")
def list_promotion_codes() -> Obj:
    p = params()
    code = get_str(p, "code")
    objs = [
        o
        for o in state().all("promotion_code")
        if (not code or o["code"].upper() == code.upper())
        and _flag(o, "active", p.get("active"))
        and (not p.get("coupon") or o["promotion"]["coupon"] == p["coupon"])
    ]
    return listing(objs, "/v1/promotion_codes")


@api_route("/promotion_codes/<pid>")
def get_promotion_code(pid: str) -> Obj:
    return one(state().require(pid, "promotion_code", "promotion code"))


@api_route("/promotion_codes/<pid>", ("POST",))
def update_promotion_code(pid: str) -> Obj:
    st = state()
    promo = st.require(pid, "promotion_code", "promotion code")
    with st.tracking(promo, "promotion_code.updated"):
        if "active" in params():
            promo["active"] = get_bool(params(), "active")
        promo["metadata"] = apply_metadata(promo["metadata"], params())
    return one(promo)


# events --------------------------------------------------------------------------
@api_route("/events")
def list_events() -> Obj:
    p = params()
    types = [str(t) for t in get_list(p, "types")]
    if p.get("type") and types:
        raise StripeError("You may only specify one of these parameters: type, types.")
    if p.get("type"):
        types = [str(p["type"])]
    ok = get_bool(p, "delivery_success")

    def type_ok(e: Obj) -> bool:
        return not types or any(
            e["type"] == t or (t.endswith("*") and e["type"].startswith(t[:-1])) for t in types
        )

    objs = [e for e in state().all("event") if type_ok(e) and (ok is None or e["_delivered"] == ok)]
    return listing(objs, "/v1/events")


@api_route("/events/<eid>")
def get_event(eid: str) -> Obj:
    return one(state().require(eid, "event", "event"))


# webhook endpoints -----------------------------------------------------------------
@api_route("/webhook_endpoints", ("POST",))
def create_webhook_endpoint() -> Obj:
    p = params()
    url = get_str(p, "url")
    if not url:
        raise missing("url")
    events = [str(e) for e in get_list(p, "enabled_events")]
    if not events:
        raise missing("enabled_events")
    we = state().add_webhook_endpoint(url, None, events, get_str(p, "description"))
    obj = state().objects[we["id"]]
    obj["metadata"] = apply_metadata({}, p)
    return one(obj)


@api_route("/webhook_endpoints")
def list_webhook_endpoints() -> Obj:
    return listing(state().all("webhook_endpoint"), "/v1/webhook_endpoints")


@api_route("/webhook_endpoints/<wid>")
def get_webhook_endpoint(wid: str) -> Obj:
    return one(state().require(wid, "webhook_endpoint", "webhook endpoint"))


@api_route("/webhook_endpoints/<wid>", ("DELETE",))
def delete_webhook_endpoint(wid: str) -> Obj:
    state().remove_webhook_endpoint(wid)
    return {"id": wid, "object": "webhook_endpoint", "deleted": True}


# test clocks ---------------------------------------------------------------------------
@api_route("/test_helpers/test_clocks", ("POST",))
def create_test_clock() -> Obj:
    frozen = get_int(params(), "frozen_time")
    if frozen is None:
        raise missing("frozen_time")
    tc = state().create_test_clock(frozen, get_str(params(), "name"))
    return one(state().objects[tc["id"]])


@api_route("/test_helpers/test_clocks")
def list_test_clocks() -> Obj:
    return listing(state().all("test_helpers.test_clock"), "/v1/test_helpers/test_clocks")


@api_route("/test_helpers/test_clocks/<cid>")
def get_test_clock(cid: str) -> Obj:
    return one(state().require(cid, "test_helpers.test_clock", "test clock"))


@api_route("/test_helpers/test_clocks/<cid>/advance", ("POST",))
def advance_test_clock(cid: str) -> Obj:
    st = state()
    tc = st.require(cid, "test_helpers.test_clock", "test clock")
    frozen = get_int(params(), "frozen_time")
    if frozen is None:
        raise missing("frozen_time")
    with st.request_context(None, None):  # clock-driven events are not attributed to a request
        engine.advance_test_clock(st, tc, frozen)
    return one(tc)


@api_route("/test_helpers/test_clocks/<cid>", ("DELETE",))
def delete_test_clock(cid: str) -> Obj:
    st = state()
    st.require(cid, "test_helpers.test_clock", "test clock")
    # Deleting a clock deletes everything that lived on it, as on Stripe.
    for kind in (
        "subscription_item",
        "subscription",
        "invoice",
        "charge",
        "customer",
        "payment_method",
    ):
        for obj in st.all(kind):
            if obj.get("_clock") == cid:
                st.remove(obj["id"])
    st.remove(cid)
    return {"id": cid, "object": "test_helpers.test_clock", "deleted": True}
