"""`/v1` routes for invoices, charges, refunds and disputes."""

from __future__ import annotations

from typing import Any

from devstripe import billing, render, shapes
from devstripe.api import api_route, listing, one, params, state
from devstripe.clock import DAY
from devstripe.errors import StripeError, card_error, missing
from devstripe.forms import apply_metadata, get_int, get_str

Obj = dict[str, Any]


def _eq(obj: Obj, key: str, value: Any) -> bool:
    return value in (None, "") or obj.get(key) == value


# invoices & charges ----------------------------------------------------------------
@api_route("/invoices")
def list_invoices() -> Obj:
    p = params()
    objs = [
        i
        for i in state().all("invoice")
        if _eq(i, "customer", p.get("customer"))
        and _eq(i, "subscription", p.get("subscription"))
        and _eq(i, "status", p.get("status"))
    ]
    return listing(objs, "/v1/invoices")


@api_route("/invoice_payments")
def list_invoice_payments() -> Obj:
    p = params()
    given = p.get("payment")
    wanted: dict[str, Any] = given if isinstance(given, dict) else {}
    objs = [
        pay
        for inv in state().all("invoice")
        for pay in inv["_payments"]
        if _eq(pay, "invoice", p.get("invoice"))
        and (
            not wanted.get("payment_intent")
            or pay["payment"].get("payment_intent") == wanted["payment_intent"]
        )
    ]
    return listing(objs, "/v1/invoice_payments")


@api_route("/invoices/<iid>")
def get_invoice(iid: str) -> Obj:
    return one(state().require(iid, "invoice", "invoice"))


@api_route("/invoices/<iid>/lines")
def invoice_lines(iid: str) -> Obj:
    lines: Obj = render.render(state(), state().require(iid, "invoice", "invoice"))["lines"]
    return lines


@api_route("/invoices/<iid>/pay", ("POST",))
def pay_invoice(iid: str) -> Obj:
    st, p = state(), params()
    inv = st.require(iid, "invoice", "invoice")
    if inv["status"] != "open":
        raise StripeError(f"Invoice is already {inv['status']}.", code="invoice_not_open")
    cust = st.objects[inv["customer"]]
    pm = billing.resolve_pm(st, p["payment_method"], cust) if p.get("payment_method") else None
    sub = st.get(inv["subscription"] or "", "subscription")
    if sub is None:
        outcome = billing.attempt_payment(st, inv, on_session=True, pm=pm)
    else:
        with st.tracking(sub, "customer.subscription.updated") as tr:
            outcome = billing.attempt_payment(st, inv, on_session=True, pm=pm)
            billing.after_payment(st, sub, inv, outcome, tr)
    if outcome.status == "requires_action":
        raise card_error(
            "This payment requires additional user action before it can be completed.",
            "invoice_payment_intent_requires_action",
        )
    if outcome.status != "succeeded":
        raise card_error(
            outcome.message or "Your card was declined.",
            outcome.code or "card_declined",
            outcome.decline_code,
        )
    return one(inv)


@api_route("/invoices/<iid>/void", ("POST",))
def void_invoice(iid: str) -> Obj:
    inv = state().require(iid, "invoice", "invoice")
    if inv["status"] != "open":
        raise StripeError("You can only void open invoices.", code="invoice_not_editable")
    billing.set_invoice_status(state(), inv, "void")
    return one(inv)


@api_route("/charges")
def list_charges() -> Obj:
    cid = params().get("customer")
    return listing([c for c in state().all("charge") if _eq(c, "customer", cid)], "/v1/charges")


@api_route("/charges/<cid>")
def get_charge(cid: str) -> Obj:
    return one(state().require(cid, "charge", "charge"))


# refunds & disputes -------------------------------------------------------------------
@api_route("/refunds", ("POST",))
def create_refund() -> Obj:
    st, p = state(), params()
    if p.get("payment_intent") and not p.get("charge"):
        # Stripe refunds a payment intent's successful charge.
        paid = [
            c
            for c in st.all("charge")
            if c.get("payment_intent") == p["payment_intent"] and c["status"] == "succeeded"
        ]
        if not paid:
            raise StripeError(
                f"No such payment_intent: '{p['payment_intent']}'",
                status=404,
                code="resource_missing",
                param="payment_intent",
            )
        p = {**p, "charge": paid[0]["id"]}
    if not p.get("charge"):
        raise missing("charge")
    ch = st.require(p["charge"], "charge", "charge", "charge")
    left = ch["amount"] - ch["amount_refunded"]
    if ch["status"] != "succeeded":
        raise StripeError(
            f"Charge {ch['id']} has not succeeded; it cannot be refunded.", param="charge"
        )
    if left <= 0:
        raise StripeError(
            f"Charge {ch['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = get_int(p, "amount", left) or left
    if amount > left:
        raise StripeError(
            f"Refund amount ({render.money(amount, ch['currency'])}) is greater than unrefunded "
            f"amount on charge ({render.money(left, ch['currency'])})",
            param="amount",
        )
    ref = shapes.base(st, "re", "refund", ch["_clock"])
    ref.update(
        {
            "amount": amount,
            "balance_transaction": None,
            "charge": ch["id"],
            "currency": ch["currency"],
            "destination_details": None,
            "payment_intent": ch.get("payment_intent"),
            "reason": get_str(p, "reason"),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
    )
    ref["metadata"] = apply_metadata({}, p)
    st.put(ref)
    previous = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
    ch["_refunds"].append(ref["id"])
    ch["amount_refunded"] += amount
    ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
    st.emit("refund.created", ref)
    st.emit("charge.refunded", ch, previous)
    return one(ref)


@api_route("/refunds")
def list_refunds() -> Obj:
    return listing(
        [r for r in state().all("refund") if _eq(r, "charge", params().get("charge"))],
        "/v1/refunds",
    )


@api_route("/refunds/<rid>")
def get_refund(rid: str) -> Obj:
    return one(state().require(rid, "refund", "refund"))


@api_route("/test_helpers/charges/<cid>/dispute", ("POST",))
def open_dispute(cid: str) -> Obj:
    """devstripe extension: open a dispute (chargeback) on a succeeded charge."""
    st, p = state(), params()
    ch = st.require(cid, "charge", "charge")
    if ch["status"] != "succeeded" or ch["disputed"]:
        raise StripeError("This charge cannot be disputed (not succeeded, or already disputed).")
    now = st.now_for(ch)
    dp = shapes.base(st, "dp", "dispute", ch["_clock"])
    dp.update(
        {
            "amount": get_int(p, "amount", ch["amount"]),
            "balance_transactions": [],
            "charge": ch["id"],
            "currency": ch["currency"],
            "enhanced_eligibility_types": [],
            "evidence": {},
            "evidence_details": {
                "due_by": now + 7 * DAY,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "payment_intent": None,
            "payment_method_details": {
                "card": {
                    "brand": ch["payment_method_details"]["card"].get("brand"),
                    "case_type": "chargeback",
                    "network_reason_code": "10.4",
                },
                "type": "card",
            },
            "reason": get_str(p, "reason", "fraudulent"),
            "status": "needs_response",
        }
    )
    st.put(dp)
    ch["disputed"] = True
    st.emit("charge.dispute.created", dp)
    return one(dp)


@api_route("/disputes")
def list_disputes() -> Obj:
    return listing(
        [d for d in state().all("dispute") if _eq(d, "charge", params().get("charge"))],
        "/v1/disputes",
    )


@api_route("/disputes/<did>")
def get_dispute(did: str) -> Obj:
    return one(state().require(did, "dispute", "dispute"))


@api_route("/disputes/<did>/close", ("POST",))
def close_dispute(did: str) -> Obj:
    st = state()
    dp = st.require(did, "dispute", "dispute")
    dp["status"] = "lost"
    st.emit("charge.dispute.closed", dp)
    return one(dp)
