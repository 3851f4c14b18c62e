"""Hosted checkout and billing-portal look-alike pages (plain HTML forms, no JavaScript)."""

from __future__ import annotations

import contextlib
from typing import Any, cast
from urllib.parse import urlencode

from flask import Blueprint, current_app, redirect, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from devstripe import billing, checkout, engine, portal, subscriptions
from devstripe.clock import DAY, fmt_date
from devstripe.errors import StripeError
from devstripe.render import money
from devstripe.state import EmulatorState

Obj = dict[str, Any]
bp = Blueprint("devstripe_pages", __name__)
INTERVAL_WORD = {"day": "daily", "week": "weekly", "month": "monthly", "year": "annual"}


def _state() -> EmulatorState:
    return cast(EmulatorState, current_app.extensions["devstripe"])


def _missing(what: str) -> tuple[str, int]:
    return render_template(
        "message.html", title=f"{what} not found", text=f"This {what.lower()} link is invalid."
    ), 404


# checkout ------------------------------------------------------------------------
def _checkout_context(st: EmulatorState, sess: Obj) -> dict[str, Any]:
    lines = []
    for li in sess["_line_items"]:
        price = st.objects[li["price"]]
        rec = price["recurring"]
        lines.append(
            {
                "name": st.objects[price["product"]]["name"],
                "quantity": li["quantity"],
                "price": money(price["unit_amount"], price["currency"]),
                "interval": rec["interval"],
                "amount": money(li["amount_subtotal"], price["currency"]),
            }
        )
    cust = st.get(sess["customer"] or "", "customer")
    trial_end = sess["_trial_end"]
    subtotal = sess["amount_subtotal"]
    return {
        "sess": sess,
        "lines": lines,
        "interval": lines[0]["interval"],
        "email": (cust or {}).get("email") or sess["customer_email"] or "",
        "email_locked": bool(cust and cust.get("email")),
        "trial_days": max(1, round((trial_end - st.now_for(sess)) / DAY)) if trial_end else None,
        "trial_end": fmt_date(trial_end) if trial_end else None,
        "due_today": money(sess["amount_total"], sess["currency"]),
        "recurring": money(subtotal, sess["currency"]),
        "awaiting_auth": bool(sess.get("_pending_invoice")),
    }


def _render_checkout(
    st: EmulatorState, sess: Obj, error: str | None = None, card: str | None = None, promo: str = ""
) -> str:
    if sess["status"] == "complete":
        url = (sess["success_url"] or "").replace("{CHECKOUT_SESSION_ID}", sess["id"])
        return render_template(
            "message.html",
            title="Payment complete",
            text="Thanks! Your subscription is active.",
            link=url or None,
            link_text="Continue",
            link_id="continue",
        )
    if sess["status"] == "expired":
        return render_template(
            "message.html",
            title="Session expired",
            text="This checkout session has expired.",
            link=sess["cancel_url"],
            link_text="Go back",
            link_id="cancel",
        )
    ctx = _checkout_context(st, sess)
    return render_template(
        "checkout.html", error=error, card=card or "4242 4242 4242 4242", promo=promo, **ctx
    )


@bp.get("/checkout/<sid>")
def checkout_page(sid: str) -> Any:
    st = _state()
    with st.lock:
        engine.tick(st)
        sess = st.get(sid, "checkout.session")
        if sess is None:
            return _missing("Checkout session")
        with contextlib.suppress(StripeError):  # only to flip an overdue session to expired
            checkout.check_open(st, sess)
        return _render_checkout(st, sess)


@bp.post("/checkout/<sid>/pay")
def checkout_pay(sid: str) -> Any:
    st = _state()
    sess = st.get(sid, "checkout.session")
    if sess is None:
        return _missing("Checkout session")
    form = request.form
    result = checkout.submit_payment(
        st,
        sess,
        email=form.get("email"),
        card=form.get("card_number", ""),
        promotion_code=form.get("promotion_code"),
    )
    return _after(
        st, sess, result, card=form.get("card_number"), promo=form.get("promotion_code", "")
    )


@bp.post("/checkout/<sid>/authenticate")
def checkout_authenticate(sid: str) -> Any:
    st = _state()
    sess = st.get(sid, "checkout.session")
    if sess is None:
        return _missing("Checkout session")
    result = checkout.authenticate(st, sess, request.form.get("action") == "complete")
    return _after(st, sess, result)


def _after(
    st: EmulatorState,
    sess: Obj,
    result: checkout.PayResult,
    card: str | None = None,
    promo: str = "",
) -> Any:
    if result.status == "complete" and result.redirect:
        return redirect(result.redirect, code=303)
    if result.status in ("complete", "requires_action"):
        return redirect(f"/checkout/{sess['id']}", code=303)
    with st.lock:
        return _render_checkout(st, sess, error=result.message, card=card, promo=promo)


# billing portal ---------------------------------------------------------------------
def _portal_context(st: EmulatorState, bps: Obj) -> dict[str, Any]:
    cust = st.objects[bps["customer"]]
    sub = portal.portal_subscription(st, cust["id"])
    pm = billing.payment_method_for(st, sub, cust)
    ctx: dict[str, Any] = {
        "bps": bps,
        "cust": cust,
        "sub": None,
        "card": f"{pm['card']['brand'].title()} •••• {pm['card']['last4']}" if pm else None,
    }
    if sub is not None:
        price = st.objects[st.objects[sub["_items"][0]]["price"]]
        target = subscriptions.switch_target(st, sub)
        interval = price["recurring"]["interval"]
        ctx.update(
            {
                "sub": sub,
                "plan": st.objects[price["product"]]["name"],
                "price": f"{money(price['unit_amount'], price['currency'])} / {interval}",
                "period_end": fmt_date(subscriptions.period_end(st, sub)),
                "cancel_at": fmt_date(sub["cancel_at"]) if sub["cancel_at"] else None,
                "trial_end": fmt_date(sub["trial_end"]) if sub["status"] == "trialing" else None,
                "switch_label": f"Switch to {INTERVAL_WORD[target['recurring']['interval']]}"
                if target
                else None,
            }
        )
    invoices = [
        i for i in st.all("invoice") if i["customer"] == cust["id"] and i["status"] != "draft"
    ]
    ctx["invoices"] = [
        {
            "date": fmt_date(i["created"]),
            "amount": money(i["total"], i["currency"]),
            "status": i["status"],
            "number": i["number"],
        }
        for i in reversed(invoices[-10:])
    ]
    return ctx


@bp.get("/portal/<pid>")
def portal_page(pid: str) -> Any:
    st = _state()
    with st.lock:
        engine.tick(st)
        bps = st.get(pid, "billing_portal.session")
        if bps is None:
            return _missing("Portal session")
        return render_template(
            "portal.html",
            notice=request.args.get("notice"),
            error=request.args.get("error"),
            **_portal_context(st, bps),
        )


def _back(pid: str, **msg: str) -> WerkzeugResponse:
    return redirect(f"/portal/{pid}?{urlencode(msg)}", code=303)


@bp.post("/portal/<pid>/action")
def portal_action(pid: str) -> Any:
    st = _state()
    bps = st.get(pid, "billing_portal.session")
    if bps is None:
        return _missing("Portal session")
    try:
        return _back(pid, notice=portal.portal_action(st, bps, request.form.get("action", "")))
    except StripeError as exc:
        return _back(pid, error=exc.message)


@bp.post("/portal/<pid>/card")
def portal_card(pid: str) -> Any:
    st = _state()
    bps = st.get(pid, "billing_portal.session")
    if bps is None:
        return _missing("Portal session")
    try:
        return _back(
            pid, notice=portal.portal_update_card(st, bps, request.form.get("card_number", ""))
        )
    except StripeError as exc:
        return _back(pid, error=exc.message)
