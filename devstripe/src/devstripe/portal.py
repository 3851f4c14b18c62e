"""Billing-portal sessions and what the portal page's buttons do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devstripe import billing, shapes, subscriptions
from devstripe.clock import fmt_date
from devstripe.errors import StripeError, missing
from devstripe.forms import Params, get_str

if TYPE_CHECKING:
    from devstripe.store import Store

Obj = dict[str, Any]


# billing portal ----------------------------------------------------------------
def create_portal_session(st: Store, params: Params, base_url: str) -> Obj:
    """`POST /v1/billing_portal/sessions`."""
    if not params.get("customer"):
        raise missing("customer")
    cust = st.require(params["customer"], "customer", "customer", "customer")
    bps = shapes.base(st, "bps", "billing_portal.session", cust["_clock"])
    bps.update(
        {
            "configuration": "bpc_devstripe_default",
            "customer": cust["id"],
            "flow": None,
            "locale": None,
            "on_behalf_of": None,
            "return_url": get_str(params, "return_url"),
            "url": f"{base_url}/portal/{bps['id']}",
        }
    )
    return st.put(bps)


def portal_subscription(st: Store, cust_id: str) -> Obj | None:
    """The subscription the portal manages: the customer's newest one that has not ended."""
    subs = [
        s
        for s in st.all("subscription")
        if s["customer"] == cust_id and s["status"] in billing.LIVE
    ]
    return subs[-1] if subs else None


def portal_action(st: Store, bps: Obj, action: str) -> str:
    """Run a portal button (cancel / resume / switch) and return the confirmation text."""
    with st.lock:
        sub = portal_subscription(st, bps["customer"])
        if sub is None:
            raise StripeError("There is no active plan to change.")
        if action == "cancel":
            subscriptions.update(st, sub, {"cancel_at_period_end": "true"})
            return f"Your plan will be canceled on {fmt_date(sub['cancel_at'])}."
        if action == "resume":
            if sub["status"] == "paused":
                subscriptions.resume(st, sub)
            else:
                subscriptions.update(st, sub, {"cancel_at_period_end": "false"})
            return "Your plan has been renewed."
        if action == "switch":
            target = subscriptions.switch_target(st, sub)
            if target is None:
                raise StripeError("There is no other plan to switch to.")
            subscriptions.update(
                st, sub, {"items": [{"id": sub["_items"][0], "price": target["id"]}]}
            )
            return f"Switched to the {target['recurring']['interval']}ly plan."
        raise StripeError(f"Unknown portal action: {action}")


def portal_update_card(st: Store, bps: Obj, card: str) -> str:
    """Save a new default card and retry anything past due with it."""
    with st.lock:
        cust = st.objects[bps["customer"]]
        pm = billing.attach_card(st, cust, card)
        for sub in st.all("subscription"):
            if sub["customer"] != cust["id"] or sub["status"] not in billing.LIVE:
                continue
            with st.tracking(sub, "customer.subscription.updated") as tr:
                if sub["default_payment_method"]:
                    sub["default_payment_method"] = pm["id"]
                if sub["status"] in ("past_due", "unpaid"):
                    for inv in st.all("invoice"):
                        if (
                            inv["subscription"] == sub["id"]
                            and inv["status"] == "open"
                            and sub["status"] != "canceled"
                        ):
                            outcome = billing.attempt_payment(st, inv, on_session=False, pm=pm)
                            billing.after_payment(st, sub, inv, outcome, tr)
        return f"Your card ending in {pm['card']['last4']} was saved."
