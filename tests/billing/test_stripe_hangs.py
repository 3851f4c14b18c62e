"""A Stripe that accepts connections and never answers: bounded waits, the event kept as failed."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from entitlements import db
from entitlements.billing.signature import sign
from entitlements.models import StripeEvent
from tests.billing.conftest import WEBHOOK_SECRET


@pytest.fixture
def hung_stripe() -> Iterator[str]:
    """A loopback port whose backlog takes connections that nobody ever reads or answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_webhook_waiting_on_a_hung_stripe_is_503_and_recorded_failed(
    make_app: Callable[..., Flask], hung_stripe: str
) -> None:
    app = make_app(
        STRIPE_SECRET_KEY="sk_test_hung",
        STRIPE_API_BASE=hung_stripe,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_TIMEOUT="1s",
    )
    event = {
        "id": "evt_hung",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"id": "sub_hung", "object": "subscription", "customer": "cus_1"}},
    }
    body = json.dumps(event).encode()
    started = time.monotonic()
    response = app.test_client().post(
        "/v1/webhooks/stripe",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign(body, WEBHOOK_SECRET, int(time.time())),
        },
    )
    waited = time.monotonic() - started
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    # Two tries of one second per call, far inside gunicorn's worker timeout.
    assert waited < 30
    with app.app_context():
        row = db.session().scalar(select(StripeEvent).where(StripeEvent.id == "evt_hung"))
    assert row is not None
    assert row.status == "failed"
    assert "Stripe" in (row.last_error or "")
