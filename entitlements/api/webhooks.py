"""POST /v1/webhooks/stripe: hand the raw body to billing.webhooks.receive()."""

from __future__ import annotations

from flask import Blueprint, Response, json, request

from .. import db
from ..billing.handlers import BillingContext
from ..billing.webhooks import MAX_BODY_BYTES, receive
from ..clock import utcnow
from ..http.body import read_body
from ..http.problems import problem
from ..runtime import gateway, now, request_actor, runtime
from .openapi import STRIPE_SIGNATURE, document

bp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks")


@bp.post("/stripe")
@document(
    "Receive a signed Stripe event (exactly once, in any order); a malformed one is recorded "
    "as failed and answered 422, so Stripe retries it.",
    request_body="StripeEvent",
    body_required=True,
    security=STRIPE_SIGNATURE,
    responses={
        200: "WebhookAck",
        400: "Problem",
        409: "Problem",
        413: "Problem",
        422: "Problem",
        500: "Problem",
        503: "Problem",
    },
    tag="billing",
)
def stripe_webhook() -> Response:
    """Verify, record and apply one Stripe event; non-2xx makes Stripe retry."""
    rt = runtime()
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return problem(413, "Payload too large", f"body larger than {MAX_BODY_BYTES} bytes")
    payload = read_body()

    def context() -> BillingContext:
        return BillingContext(
            gateway=gateway(),
            revoke_on_refund=rt.config.revoke_on_refund,
            revoke_on_dispute=rt.config.revoke_on_dispute,
            cancel_on_revoke=rt.config.cancel_on_revoke,
            now=now(),
            actor=request_actor("stripe"),
        )

    session = db.session()
    outcome = receive(
        session,
        payload,
        request.headers.get("Stripe-Signature"),
        secrets=rt.config.stripe_webhook_secrets,
        context=context,
        wall_now=utcnow(),
    )
    # What receive() left in the session, a malformed event recorded as failed, is kept.
    session.commit()
    if outcome.status >= 300:
        titles = {
            400: "Bad request",
            409: "Not yet placeable",
            413: "Payload too large",
            422: "Malformed event",
            500: "Handler failed",
            503: "Stripe unavailable",
        }
        return problem(outcome.status, titles.get(outcome.status, "Error"), outcome.detail)
    body = {"received": True, "event_id": outcome.event_id, "result": outcome.detail}
    return Response(json.dumps(body), status=200, mimetype="application/json")
