"""devstripe's own `/v1/test_helpers/...` extensions (not part of Stripe's API)."""

from __future__ import annotations

from typing import Any

from devstripe import checkout, engine
from devstripe.api import api_route, one, params, state
from devstripe.errors import StripeError, card_error, missing
from devstripe.forms import get_bool, get_int, get_str

Obj = dict[str, Any]


# devstripe test helpers ------------------------------------------------------------------
@api_route("/test_helpers/devstripe/advance", ("POST",))
def advance_global_clock() -> Obj:
    """devstripe extension: move the global clock forward by `seconds`."""
    st = state()
    seconds = get_int(params(), "seconds")
    if seconds is None:
        raise missing("seconds")
    with st.request_context(None, None):
        steps = engine.advance_global(st, seconds)
    return {"object": "devstripe.clock", "now": st.now(), "steps": steps}


@api_route("/test_helpers/devstripe/flush", ("POST",), locked=False)
def flush_webhooks() -> Obj:
    """devstripe extension: deliver every owed webhook now (runs without the state lock)."""
    delivered = state().flush_deliveries(bool(get_bool(params(), "include_dropped")))
    return {"object": "devstripe.flush", "delivered": delivered}


@api_route("/test_helpers/customers/<cid>/card_fails", ("POST",))
def card_fails(cid: str) -> Obj:
    """devstripe extension: make this customer's future charges fail (`fails=false` undoes it)."""
    state().set_card_fails(cid, get_bool(params(), "fails", True) is not False)
    return one(state().require(cid, "customer", "customer"))


@api_route("/test_helpers/checkout/sessions/<sid>/complete", ("POST",))
def complete_checkout(sid: str) -> Obj:
    """devstripe extension: pay a session like the hosted page would.

    Params: card, email, promotion_code, authentication=complete|fail (for 3DS cards).
    """
    st, p = state(), params()
    sess = st.require(sid, "checkout.session", "checkout.session")
    result = checkout.submit_payment(
        st,
        sess,
        email=get_str(p, "email") or sess["customer_email"] or "customer@example.com",
        card=get_str(p, "card") or "4242424242424242",
        promotion_code=get_str(p, "promotion_code"),
    )
    auth = get_str(p, "authentication")
    if result.status == "requires_action" and auth in ("complete", "fail"):
        result = checkout.authenticate(st, sess, auth == "complete")
    if result.status == "declined":
        raise card_error(result.message or "Your card was declined.", "card_declined")
    if result.status == "error":
        raise StripeError(result.message or "Checkout failed.")
    return one(sess)


@api_route("/test_helpers/checkout/sessions/<sid>/async_payment", ("POST",))
def async_payment(sid: str) -> Obj:
    """devstripe extension: emit checkout.session.async_payment_<outcome> for a paid session."""
    st = state()
    sess = st.require(sid, "checkout.session", "checkout.session")
    outcome = get_str(params(), "outcome", "succeeded")
    if sess["status"] != "complete" or outcome not in ("succeeded", "failed"):
        raise StripeError("Session must be complete and outcome one of succeeded, failed.")
    if outcome == "succeeded":
        sess["payment_status"] = "paid"
    st.emit(f"checkout.session.async_payment_{outcome}", sess)
    return one(sess)
