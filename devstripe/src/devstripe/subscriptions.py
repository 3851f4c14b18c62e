"""Subscription lifecycle operations: create, update, cancel, pause/resume, plan switch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devstripe import billing, cards, shapes_billing
from devstripe.clock import add_interval
from devstripe.errors import StripeError, invalid
from devstripe.forms import (
    Params,
    apply_metadata,
    get_bool,
    get_dict,
    get_int,
    get_list,
)

if TYPE_CHECKING:
    from devstripe.store import Store, Tracker

Obj = dict[str, Any]


def period_end(st: Store, sub: Obj) -> int:
    """End of the current period (from the first item, as the API moved it there)."""
    return int(st.objects[sub["_items"][0]]["current_period_end"])


def create(
    st: Store,
    *,
    cust: Obj,
    prices: list[tuple[Obj, int]],
    trial_end: int | None,
    metadata: dict[str, str],
    pm: Obj | None,
    discounts: list[tuple[str, str | None]],
    session_id: str | None = None,
    on_session: bool = False,
    behavior: str = "allow_incomplete",
) -> tuple[Obj, Obj, cards.Outcome | None]:
    """Create a subscription with its first invoice and try to collect it."""
    now = st.now_for(cust)
    first = prices[0][0]
    sub = shapes_billing.subscription(st, customer=cust, currency=first["currency"])
    sub["metadata"] = dict(metadata)
    if pm is not None:
        sub["default_payment_method"] = pm["id"]
    rec = first["recurring"]
    end = trial_end or add_interval(now, rec["interval"], rec["interval_count"])
    if trial_end:
        # Stripe anchors the billing cycle on the trial end.
        sub.update(
            {
                "status": "trialing",
                "trial_start": now,
                "trial_end": trial_end,
                "billing_cycle_anchor": trial_end,
            }
        )
    for price, qty in prices:
        item = shapes_billing.subscription_item(
            st, sub=sub, price_id=price["id"], quantity=qty, start=now, end=end
        )
        sub["_items"].append(st.put(item)["id"])
    for coupon_id, promo_id in discounts:
        disc = shapes_billing.discount(
            st,
            coupon_id=coupon_id,
            promo_id=promo_id,
            customer_id=cust["id"],
            start=now,
            session_id=session_id,
        )
        disc["subscription"] = sub["id"]
        coupon = st.objects[coupon_id]
        coupon["times_redeemed"] += 1
        if coupon["duration"] == "repeating" and coupon["duration_in_months"]:
            disc["end"] = add_interval(now, "month", int(coupon["duration_in_months"]))
        if promo_id:
            st.objects[promo_id]["times_redeemed"] += 1
        sub["discounts"].append(st.put(disc)["id"])
    st.put(sub)
    inv = billing.build_invoice(
        st, sub, "subscription_create", start=now, end=end, period=(now, now), trial=bool(trial_end)
    )
    sub["latest_invoice"] = inv["id"]
    st.emit("customer.subscription.created", sub)
    st.emit("invoice.created", inv)
    outcome = None
    with st.tracking(sub, "customer.subscription.updated") as tr:
        billing.finalize(st, inv)
        if inv["status"] == "paid":
            if not trial_end:
                sub["status"] = "active"
        elif behavior != "default_incomplete":
            outcome = billing.attempt_payment(st, inv, on_session=on_session, pm=pm)
            billing.after_payment(st, sub, inv, outcome, tr)
    return sub, inv, outcome


def set_cancel_at_period_end(st: Store, sub: Obj, flag: bool) -> None:
    """Schedule (or unschedule) cancellation at the end of the current period."""
    if flag:
        sub.update(
            {
                "cancel_at_period_end": True,
                "cancel_at": period_end(st, sub),
                "canceled_at": st.now_for(sub),
            }
        )
        sub["cancellation_details"]["reason"] = "cancellation_requested"
    else:
        sub.update({"cancel_at_period_end": False, "cancel_at": None, "canceled_at": None})
        sub["cancellation_details"]["reason"] = None


def end_trial(st: Store, sub: Obj, tr: Tracker, at: int, reason: str) -> None:
    """Finish the trial at `at`: invoice the first paid period (or pause/cancel without a card)."""
    sub["trial_end"] = at
    end = billing.reset_period(st, sub, at)
    if sub["cancel_at_period_end"]:
        sub["cancel_at"] = end
    cust = st.objects[sub["customer"]]
    missing = sub["trial_settings"]["end_behavior"]["missing_payment_method"]
    if billing.payment_method_for(st, sub, cust) is None and missing in ("cancel", "pause"):
        if missing == "cancel":
            billing.end_subscription(
                st, sub, tr, at=at, status="canceled", reason="cancellation_requested"
            )
        else:
            sub["status"] = "paused"
            st.emit("customer.subscription.paused", sub)
        return
    sub["status"] = "active"
    billing.charge_cycle(st, sub, tr, reason=reason, start=at, end=end, period=(at, at))


def change_price(st: Store, sub: Obj, tr: Tracker, item: Obj, price: Obj) -> None:
    """Swap an item's price. Proration is ignored; a new interval restarts the cycle now."""
    old = st.objects[item["price"]]["recurring"]
    new = price["recurring"]
    item["price"] = price["id"]
    changed = (old["interval"], old["interval_count"]) != (new["interval"], new["interval_count"])
    if changed and sub["status"] in ("active", "past_due"):
        now = st.now_for(sub)
        end = billing.reset_period(st, sub, now)
        if sub["cancel_at_period_end"]:
            sub["cancel_at"] = end
        billing.charge_cycle(
            st, sub, tr, reason="subscription_update", start=now, end=end, period=(now, now)
        )


def _update_items(st: Store, sub: Obj, tr: Tracker, items: list[Any]) -> None:
    for i, spec in enumerate(items):
        if not isinstance(spec, dict):
            raise invalid(f"items[{i}]", "Invalid hash")
        if spec.get("id"):
            item = st.require(
                spec["id"], "subscription_item", "subscription item", f"items[{i}][id]"
            )
            if item["subscription"] != sub["id"]:
                raise invalid(f"items[{i}][id]", "That item does not belong to this subscription.")
            if get_bool(spec, "deleted"):
                if len(sub["_items"]) == 1:
                    raise StripeError("A subscription must have at least one active plan.")
                sub["_items"].remove(item["id"])
                continue
            qty = get_int(spec, "quantity")
            if qty is not None:
                item["quantity"] = qty
            if spec.get("price") and spec["price"] != item["price"]:
                price = st.require(spec["price"], "price", "price", f"items[{i}][price]")
                if not price["recurring"]:
                    raise invalid(f"items[{i}][price]", "The price must be recurring.")
                change_price(st, sub, tr, item, price)
        else:
            price = st.require(spec.get("price"), "price", "price", f"items[{i}][price]")
            first = st.objects[sub["_items"][0]]
            new = shapes_billing.subscription_item(
                st,
                sub=sub,
                price_id=price["id"],
                quantity=get_int(spec, "quantity", 1) or 1,
                start=first["current_period_start"],
                end=first["current_period_end"],
            )
            sub["_items"].append(st.put(new)["id"])


def update(st: Store, sub: Obj, params: Params) -> None:
    """Apply `POST /v1/subscriptions/{id}` parameters, emitting one updated event."""
    if sub["status"] in ("canceled", "incomplete_expired") and set(params) - {
        "metadata",
        "cancellation_details",
        "expand",
    }:
        raise StripeError(
            "A canceled subscription can only update its cancellation_details and metadata."
        )
    with st.tracking(sub, "customer.subscription.updated") as tr:
        sub["metadata"] = apply_metadata(sub["metadata"], params)
        details = get_dict(params, "cancellation_details")
        for key in ("comment", "feedback"):
            if key in details:
                sub["cancellation_details"][key] = details[key] or None
        if params.get("default_payment_method"):
            cust = st.objects[sub["customer"]]
            sub["default_payment_method"] = billing.resolve_pm(
                st, params["default_payment_method"], cust, "default_payment_method"
            )["id"]
        flag = get_bool(params, "cancel_at_period_end")
        if flag is not None:
            set_cancel_at_period_end(st, sub, flag)
        if "cancel_at" in params:
            at = get_int(params, "cancel_at")
            sub["cancel_at"] = at
            sub["cancel_at_period_end"] = at is not None and at == period_end(st, sub)
            sub["canceled_at"] = st.now_for(sub) if at else None
        if "pause_collection" in params:
            pc = params["pause_collection"]
            if pc == "":
                sub["pause_collection"] = None
            else:
                pc = get_dict(params, "pause_collection")
                if pc.get("behavior") not in ("keep_as_draft", "mark_uncollectible", "void"):
                    raise invalid(
                        "pause_collection[behavior]", "Invalid pause_collection[behavior]"
                    )
                sub["pause_collection"] = {
                    "behavior": pc["behavior"],
                    "resumes_at": get_int(pc, "resumes_at"),
                }
        if params.get("trial_end"):
            _set_trial_end(st, sub, tr, params["trial_end"])
        if "items" in params:
            _update_items(st, sub, tr, get_list(params, "items"))


def _set_trial_end(st: Store, sub: Obj, tr: Tracker, value: Any) -> None:
    now = st.now_for(sub)
    if value == "now":
        if sub["status"] == "trialing":
            st.emit("customer.subscription.trial_will_end", sub)
            end_trial(st, sub, tr, now, "subscription_update")
        return
    try:
        at = int(value)
    except ValueError:
        raise invalid("trial_end", "Invalid trial_end: must be 'now' or a timestamp") from None
    if at <= now:
        raise invalid(
            "trial_end", "Invalid timestamp: must be an integer Unix timestamp in the future."
        )
    if sub["status"] not in ("trialing", "active"):
        raise StripeError(
            "Only trialing or active subscriptions can get a trial_end.", param="trial_end"
        )
    if sub["status"] == "active":
        sub.update({"status": "trialing", "trial_start": now})
        for item_id in sub["_items"]:
            st.objects[item_id]["current_period_start"] = now
    sub.update({"trial_end": at, "billing_cycle_anchor": at})
    for item_id in sub["_items"]:
        st.objects[item_id]["current_period_end"] = at
    sub.pop("_twe_sent", None)


def cancel_now(st: Store, sub: Obj) -> None:
    """Cancel immediately (DELETE /v1/subscriptions/{id})."""
    if sub["status"] in ("canceled", "incomplete_expired"):
        # As Stripe answers: a canceled subscription counts as deleted for DELETE.
        raise StripeError(
            f"No such subscription: '{sub['id']}'",
            status=404,
            code="resource_missing",
            param="id",
        )
    with st.tracking(sub, None) as tr:
        billing.end_subscription(
            st, sub, tr, at=st.now_for(sub), status="canceled", reason="cancellation_requested"
        )


def pause(st: Store, sub: Obj) -> None:
    """Pause a subscription (status `paused`, no invoices until resumed)."""
    if sub["status"] not in ("active", "trialing", "past_due"):
        raise StripeError("Only active, trialing or past_due subscriptions can be paused.")
    with st.tracking(sub, "customer.subscription.updated"):
        sub["status"] = "paused"
    st.emit("customer.subscription.paused", sub)


def resume(st: Store, sub: Obj) -> None:
    """Resume a paused subscription: a new cycle starts now and is invoiced."""
    if sub["status"] != "paused":
        raise StripeError("You can only resume subscriptions with a status of `paused`.")
    with st.tracking(sub, "customer.subscription.updated") as tr:
        now = st.now_for(sub)
        sub["status"] = "active"
        end = billing.reset_period(st, sub, now)
        billing.charge_cycle(
            st, sub, tr, reason="subscription_update", start=now, end=end, period=(now, now)
        )
    st.emit("customer.subscription.resumed", sub)


def switch_target(st: Store, sub: Obj) -> Obj | None:
    """The price the portal's switch button moves to: same product, other interval."""
    current = st.objects[st.objects[sub["_items"][0]]["price"]]
    cur = current["recurring"]
    for price in st.all("price"):
        rec = price["recurring"]
        if (
            price["active"]
            and rec
            and price["product"] == current["product"]
            and price["currency"] == current["currency"]
            and (rec["interval"], rec["interval_count"]) != (cur["interval"], cur["interval_count"])
        ):
            return price
    return None
