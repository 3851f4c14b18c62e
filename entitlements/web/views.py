"""Subscriber pages. Identity comes only from a signed hand-off, never from the browser."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import db
from ..billing.checkout import live_subscription, open_portal, start_checkout
from ..billing.handlers import revocation_kind
from ..billing.stripe_gateway import StripeNotFoundError
from ..billing.sync import sync_subscription
from ..catalog import FEATURE_NAMES
from ..errors import UnauthorizedError
from ..http.csrf import check_csrf, csrf_token
from ..models import Subscription
from ..pages import add_page_headers
from ..runtime import gateway, now, request_actor, runtime
from ..services.account_facts import access_for
from ..tokens.handoff import redeem_handoff
from .offers import offers

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/web",
)


@bp.app_template_filter("date")
def format_date(value: datetime | None) -> str:
    """Format a UTC time as a date readers understand."""
    return value.strftime("%B %-d, %Y") if value else ""


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    # App-wide: error pages outside this blueprint (404s, the demo) link to the magazine too.
    return {"site_url": runtime().config.site_url}


# The sign-out form sits in every page's header, whichever view rendered it.
bp.add_app_template_global(csrf_token, "csrf_token")
bp.after_app_request(add_page_headers)


def signed_in_account() -> str:
    """Return the account the reader signed in as through a hand-off."""
    account_id = session.get("account_id")
    if not isinstance(account_id, str):
        raise UnauthorizedError("sign in on the magazine first, then follow its Plus link")
    return account_id


@bp.get("/handoff")
def handoff() -> Response:
    """Exchange a one-time hand-off for a session cookie, then go to the page it names."""
    token = request.args.get("token", "")
    rt = runtime()
    db_session = db.session()
    result = redeem_handoff(db_session, token, secret_key=rt.config.secret_key, now=now())
    db_session.commit()
    session.clear()
    session.permanent = True
    session["account_id"] = result.account_id
    if result.email:
        session["email"] = result.email
    return redirect(result.next_page, code=303)


@bp.get("/subscribe")
def subscribe() -> str:
    """Show the Plus offer, or the billing button to a reader who already has Plus."""
    account_id = signed_in_account()
    live = live_subscription(db.session(), account_id)
    return render_template(
        "subscribe.html",
        offers=[] if live else offers(gateway(), runtime().catalog),
        live=live,
        csrf=csrf_token(),
    )


@bp.post("/subscribe")
def start_subscription() -> Response:
    """Create (or reuse) a Checkout Session for the chosen price and go there."""
    check_csrf()
    account_id = signed_in_account()
    lookup_key = request.form.get("lookup_key", "")
    rt = runtime()
    db_session = db.session()
    base = rt.config.public_url
    target = start_checkout(
        db_session,
        gateway(),
        account_id,
        lookup_key,
        catalog=rt.catalog,
        email=session.get("email"),
        success_url=f"{base}/subscribe/success?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{base}/subscribe/cancel",
        portal_return_url=f"{base}/account",
        now=now(),
        actor=request_actor(f"reader:{account_id}"),
    )
    db_session.commit()
    return redirect(target.url, code=303)


@bp.get("/subscribe/success")
def success() -> str:
    """Show the account's state as the service knows it; the URL grants nothing."""
    account_id = signed_in_account()
    rt = runtime()
    db_session = db.session()
    checkout_id = request.args.get("session_id", "")
    if checkout_id.startswith("cs_") and len(checkout_id) < 255:
        # Ask Stripe, not the URL: sync the subscription only if the session is this
        # reader's own, so a late webhook does not leave the reader wondering. Sync only:
        # settling a second subscription (refund, cancel) is the webhooks' job, as its
        # Stripe calls could outlast the worker timeout of a GET.
        try:
            checkout = gateway().retrieve_checkout_session(checkout_id)
        except StripeNotFoundError:
            checkout = {}
        subscription = checkout.get("subscription")
        if checkout.get("client_reference_id") == account_id and subscription:
            sync_subscription(
                db_session,
                gateway(),
                str(subscription),
                now=now(),
                actor=request_actor("checkout-return"),
                customer_id=str(checkout.get("customer")),
                account_hint=account_id,
            )
            db_session.commit()
    access = access_for(db_session, account_id, now=now(), policy=rt.policy)
    return render_template(
        "success.html",
        has_plus=access.plan is not None,
        features=[FEATURE_NAMES[f].lower() for f in access.features],
    )


@bp.get("/subscribe/cancel")
def cancel() -> str:
    """Checkout was abandoned: nothing was charged; back to the offer."""
    return render_template(
        "message.html",
        title="No charge was made",
        message="You left the checkout before paying. Your plan has not changed.",
        link=url_for("web.subscribe"),
        link_text="Back to the Plus offer",
    )


@bp.get("/account/billing")
def billing_page() -> str:
    """Offer the button that opens billing; a GET (a link, a prefetch) creates nothing."""
    signed_in_account()
    return render_template("billing.html", csrf=csrf_token())


@bp.post("/account/billing")
def billing() -> Response:
    """Open the Stripe customer portal for the signed-in reader."""
    check_csrf()
    account_id = signed_in_account()
    target = open_portal(
        db.session(),
        gateway(),
        account_id,
        return_url=f"{runtime().config.public_url}/account",
        now=now(),
    )
    return redirect(target.url, code=303)


@bp.post("/account/sign-out")
def sign_out() -> str:
    """Forget the reader in this browser (an admin's console session stays)."""
    check_csrf()
    session.pop("account_id", None)
    session.pop("email", None)
    return render_template(
        "message.html",
        title="You are signed out",
        message="This browser no longer shows your account here.",
        link=runtime().config.site_url,
        link_text="Back to the magazine",
    )


@bp.get("/account")
def account() -> str:
    """Plan, status, renewal or end date, grandfathering and bans, in plain words."""
    account_id = signed_in_account()
    rt = runtime()
    db_session = db.session()
    access = access_for(db_session, account_id, now=now(), policy=rt.policy)
    sub = live_subscription(db_session, account_id) or _latest_subscription(account_id)
    comment_sources = {s.source for s in access.sources if s.feature == "comment"}
    # The "subscribe to keep commenting" notice is for past commenters without Plus.
    grandfather = [
        s
        for s in access.sources
        if s.feature == "comment"
        and s.source == "grandfather"
        and "subscription" not in comment_sources
    ]
    plan = rt.catalog.plan_for_lookup_key(sub.lookup_keys.split(",")[0]) if sub else None
    return render_template(
        "account.html",
        account_id=account_id,
        sub=sub,
        plan_name=plan.name if plan else "unknown plan",
        sub_interval="annual" if sub and "annual" in sub.lookup_keys else "monthly",
        features=access.features,
        feature_names=FEATURE_NAMES,
        grandfather_until=grandfather[0].ends_at if grandfather else None,
        revoked=revocation_kind(sub.access_revoked_reason) if sub else None,
        bans=access.restrictions,
        csrf=csrf_token(),
    )


def _latest_subscription(account_id: str) -> Subscription | None:
    return db.session().scalar(
        select(Subscription)
        .where(Subscription.account_id == account_id)
        .order_by(Subscription.created_at.desc())
        .limit(1)
    )
