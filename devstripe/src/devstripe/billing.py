"""Invoices, charges and subscription state transitions shared by the API, pages and clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devstripe import cards, shapes, shapes_billing
from devstripe.clock import add_interval
from devstripe.errors import card_error
from devstripe.render import money, render

if TYPE_CHECKING:
    from devstripe.store import Store, Tracker

Obj = dict[str, Any]
LIVE = ("trialing", "active", "past_due", "unpaid", "paused")


# payment methods -------------------------------------------------------------
def attach_card(st: Store, cust: Obj, number: str, *, make_default: bool = True) -> Obj:
    """Save a card on a customer (raising a 402 if the card is refused on attach)."""
    number = cards.normalize(number)
    refused = cards.attach_error(number)
    if refused:
        code = "incorrect_number" if refused[0] == "incorrect_number" else "card_declined"
        raise card_error(refused[1], code, None if code == "incorrect_number" else refused[0])
    pm = st.put(
        shapes.payment_method(st, number=number, customer_id=cust["id"], clock=cust["_clock"])
    )
    st.emit("payment_method.attached", pm)
    if make_default:
        with st.tracking(cust, "customer.updated"):
            cust["invoice_settings"]["default_payment_method"] = pm["id"]
    return pm


def resolve_pm(st: Store, ref: str, cust: Obj, param: str = "payment_method") -> Obj:
    """A payment method id, or a test token like `pm_card_visa` (attached on the fly)."""
    if ref in cards.PM_TOKENS:
        return attach_card(st, cust, cards.PM_TOKENS[ref], make_default=False)
    pm = st.require(ref, "payment_method", "PaymentMethod", param)
    if pm["customer"] is None:
        pm["customer"] = cust["id"]
        st.emit("payment_method.attached", pm)
    return pm


def payment_method_for(st: Store, sub: Obj | None, cust: Obj) -> Obj | None:
    """The card a charge would use: the subscription's, else the customer's default."""
    ref = (sub or {}).get("default_payment_method") or cust["invoice_settings"][
        "default_payment_method"
    ]
    return st.get(ref, "payment_method") if ref else None


# invoices ----------------------------------------------------------------------
def coupon_off(coupon: Obj, subtotal: int) -> int:
    """How much a coupon takes off an amount (percent rounded like Stripe, or fixed)."""
    if coupon["percent_off"]:
        return round(subtotal * float(coupon["percent_off"]) / 100)
    return min(int(coupon["amount_off"] or 0), subtotal)


def _discount_amount(st: Store, sub: Obj, subtotal: int, now: int) -> tuple[int, str | None]:
    for did in list(sub["discounts"]):
        disc = st.objects[did]
        coupon = st.objects[disc["source"]["coupon"]]
        if disc["end"] is not None and now >= disc["end"]:
            continue
        if subtotal <= 0:
            return 0, None
        off = coupon_off(coupon, subtotal)
        if coupon["duration"] == "once":
            # Applied to the first invoice that actually costs something, then gone.
            disc["end"] = now
            sub["discounts"].remove(did)
        return off, did
    return 0, None


def build_invoice(
    st: Store,
    sub: Obj,
    reason: str,
    *,
    start: int,
    end: int,
    period: tuple[int, int],
    trial: bool = False,
) -> Obj:
    """Create (but do not announce) a draft invoice for the subscription's items."""
    cust = st.objects[sub["customer"]]
    inv = shapes_billing.invoice(
        st,
        customer=cust,
        sub=sub,
        billing_reason=reason,
        period_start=period[0],
        period_end=period[1],
    )
    subtotal = 0
    for item_id in sub["_items"]:
        item = st.objects[item_id]
        price = st.objects[item["price"]]
        product = st.objects.get(price["product"], {})
        qty = int(item["quantity"])
        amount = 0 if trial else int(price["unit_amount"]) * qty
        subtotal += amount
        name = product.get("name", "item")
        interval = (price["recurring"] or {}).get("interval", "once")
        unit = money(price["unit_amount"], price["currency"])
        desc = (
            f"Trial period for {name}"
            if trial
            # Stripe's own wording uses the multiplication sign.
            else f"{qty} × {name} (at {unit} / {interval})"  # noqa: RUF001
        )
        inv["_lines"].append(
            {
                "id": st.new_id("il"),
                "object": "line_item",
                "amount": amount,
                "currency": price["currency"],
                "description": desc,
                "discount_amounts": [],
                "discountable": True,
                "discounts": [],
                "invoice": inv["id"],
                "livemode": False,
                "metadata": {},
                "parent": {
                    "invoice_item_details": None,
                    "type": "subscription_item_details",
                    "subscription_item_details": {
                        "invoice_item": None,
                        "proration": False,
                        "proration_details": {"credited_items": None},
                        "subscription": sub["id"],
                        "subscription_item": item_id,
                    },
                },
                "period": {"end": end, "start": start},
                "pretax_credit_amounts": [],
                "price": render(st, price),
                "pricing": {
                    "price_details": {"price": price["id"], "product": price["product"]},
                    "type": "price_details",
                    "unit_amount_decimal": price["unit_amount_decimal"],
                },
                "quantity": qty,
                "subtotal": amount,
                "taxes": [],
            }
        )
    off, did = _discount_amount(st, sub, subtotal, st.now_for(sub))
    total = subtotal - off
    inv.update(
        {
            "subtotal": subtotal,
            "subtotal_excluding_tax": subtotal,
            "total": total,
            "total_excluding_tax": total,
            "amount_due": total,
            "amount_remaining": total,
        }
    )
    if did:
        inv["discounts"] = [did]
        inv["total_discount_amounts"] = [{"amount": off, "discount": did}]
    return st.put(inv)


def finalize(st: Store, inv: Obj) -> None:
    """Draft -> open (or straight to paid when nothing is due)."""
    now = st.now_for(inv)
    st.invoice_number += 1
    cust = st.objects[inv["customer"]]
    inv.update(
        {
            "status": "open",
            "number": f"{cust['invoice_prefix']}-{st.invoice_number:04d}",
            "effective_at": now,
            "ending_balance": 0,
        }
    )
    inv["status_transitions"]["finalized_at"] = now
    st.emit("invoice.finalized", inv)
    if inv["amount_due"] == 0:
        mark_paid(st, inv, None)


def mark_paid(st: Store, inv: Obj, charge: Obj | None) -> None:
    """Record a successful payment on the invoice and announce it."""
    now = st.now_for(inv)
    inv.update(
        {
            "status": "paid",
            "amount_paid": inv["amount_due"],
            "amount_remaining": 0,
            "next_payment_attempt": None,
            "attempted": True,
        }
    )
    inv["status_transitions"]["paid_at"] = now
    if charge is not None:
        inv["_payments"].append(
            {
                "id": st.new_id("inpay"),
                "object": "invoice_payment",
                "amount_paid": charge["amount"],
                "amount_requested": charge["amount"],
                "created": now,
                "currency": inv["currency"],
                "invoice": inv["id"],
                "is_default": True,
                "livemode": False,
                "payment": {
                    "payment_intent": charge["payment_intent"],
                    "type": "payment_intent",
                },
                "status": "paid",
                "status_transitions": {"canceled_at": None, "paid_at": now},
            }
        )
    st.emit("invoice.paid", inv)
    st.emit("invoice.payment_succeeded", inv)


def collect(st: Store, inv: Obj, pm: Obj | None) -> Obj:
    """Create a succeeded charge for the amount due and mark the invoice paid."""
    ch = st.put(
        shapes_billing.charge(
            st, inv=inv, pm=pm, amount=inv["amount_due"], outcome=cards.Outcome("succeeded")
        )
    )
    st.emit("charge.succeeded", ch)
    mark_paid(st, inv, ch)
    return ch


def set_invoice_status(st: Store, inv: Obj, status: str) -> None:
    """Void or mark an open/draft invoice uncollectible."""
    now = st.now_for(inv)
    inv.update({"status": status, "next_payment_attempt": None})
    key = "voided_at" if status == "void" else "marked_uncollectible_at"
    inv["status_transitions"][key] = now
    st.emit("invoice.voided" if status == "void" else "invoice.marked_uncollectible", inv)


def attempt_payment(
    st: Store, inv: Obj, *, on_session: bool, pm: Obj | None = None
) -> cards.Outcome:
    """Try to collect an open invoice with the customer's card; schedule retries on failure."""
    cust = st.objects[inv["customer"]]
    sub = st.get(inv["subscription"] or "", "subscription")
    pm = pm or payment_method_for(st, sub, cust)
    number = pm["_number"] if pm else None
    outcome = cards.charge(number, on_session=on_session, forced_fail=cust["id"] in st.card_fails)
    now = st.now_for(inv)
    inv["attempt_count"] += 1
    inv["attempted"] = True
    if outcome.status == "succeeded":
        collect(st, inv, pm)
        return outcome
    inv.setdefault("_first_failed_at", now)
    k = inv["attempt_count"] - 1
    # A subscription's first invoice is not retried: it just expires after 23h.
    offsets = st.retry_offsets if inv["billing_reason"] != "subscription_create" else ()
    inv["next_payment_attempt"] = inv["_first_failed_at"] + offsets[k] if k < len(offsets) else None
    if outcome.status == "requires_action":
        st.emit("invoice.payment_action_required", inv)
        if on_session:
            return outcome
    elif pm is not None:
        amount = inv["amount_due"]
        ch = st.put(shapes_billing.charge(st, inv=inv, pm=pm, amount=amount, outcome=outcome))
        inv["charge"] = ch["id"]
        st.emit("charge.failed", ch)
    st.emit("invoice.payment_failed", inv)
    return outcome


# subscription transitions --------------------------------------------------------
def end_subscription(
    st: Store, sub: Obj, tr: Tracker, *, at: int, status: str, reason: str | None
) -> None:
    """Terminal transition (canceled / incomplete_expired); the tracker emits `deleted`."""
    sub.update({"status": status, "ended_at": at, "canceled_at": sub["canceled_at"] or at})
    if reason:
        sub["cancellation_details"]["reason"] = reason
    for inv in st.all("invoice"):
        if inv["subscription"] == sub["id"] and inv["status"] == "open":
            inv["next_payment_attempt"] = None
    tr.etype = "customer.subscription.deleted"
    tr.force = True


def after_payment(st: Store, sub: Obj, inv: Obj, outcome: cards.Outcome, tr: Tracker) -> None:
    """Move the subscription's status after an attempt on one of its invoices."""
    if inv["status"] == "paid":
        owed = [
            i
            for i in st.all("invoice")
            if i["subscription"] == sub["id"]
            and i["status"] == "open"
            and i["amount_remaining"] > 0
        ]
        if sub["status"] in ("incomplete", "past_due", "unpaid", "trialing") and not owed:
            sub["status"] = "active"
        return
    if inv["billing_reason"] == "subscription_create":
        return  # the first invoice keeps the subscription incomplete; no dunning
    if sub["status"] in ("active", "trialing"):
        sub["status"] = "past_due"
    if inv["next_payment_attempt"] is None and sub["status"] == "past_due":
        if st.cancel_behavior == "canceled":
            end_subscription(
                st, sub, tr, at=st.now_for(sub), status="canceled", reason="payment_failed"
            )
        else:
            sub["status"] = "unpaid"


def charge_cycle(
    st: Store, sub: Obj, tr: Tracker, *, reason: str, start: int, end: int, period: tuple[int, int]
) -> None:
    """Invoice the new period and collect it, honouring pause_collection and `unpaid`."""
    inv = build_invoice(st, sub, reason, start=start, end=end, period=period)
    sub["latest_invoice"] = inv["id"]
    st.emit("invoice.created", inv)
    pause = sub["pause_collection"]
    if pause:
        behavior = pause["behavior"]
        if behavior == "void":
            finalize_quietly(st, inv)
            set_invoice_status(st, inv, "void")
        elif behavior == "mark_uncollectible":
            finalize_quietly(st, inv)
            set_invoice_status(st, inv, "uncollectible")
        return  # keep_as_draft: stays a draft
    if sub["status"] == "unpaid":
        inv["auto_advance"] = False  # Stripe leaves invoices of unpaid subscriptions as drafts
        return
    finalize(st, inv)
    if inv["status"] == "open":
        outcome = attempt_payment(st, inv, on_session=False)
        after_payment(st, sub, inv, outcome, tr)


def finalize_quietly(st: Store, inv: Obj) -> None:
    """Assign a number without charging (for invoices that are voided right away)."""
    st.invoice_number += 1
    inv.update({"status": "open", "number": f"DEV-{st.invoice_number:04d}"})
    inv["status_transitions"]["finalized_at"] = st.now_for(inv)


def reset_period(st: Store, sub: Obj, at: int) -> int:
    """Restart the billing cycle at `at` (new anchor); returns the new period end."""
    first = st.objects[sub["_items"][0]]
    rec = st.objects[first["price"]]["recurring"]
    end = add_interval(at, rec["interval"], rec["interval_count"])
    sub["billing_cycle_anchor"] = at
    for item_id in sub["_items"]:
        st.objects[item_id].update({"current_period_start": at, "current_period_end": end})
    return end
