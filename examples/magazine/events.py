"""POST /entitlements-events: the service's change events (Standard Webhooks), via the SDK."""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, request

from entitlements_client import EventVerificationError

from .app import site

bp = Blueprint("events", __name__)


@bp.post("/entitlements-events")
def receive_event() -> tuple[str, int]:
    """Verify one event, revoke the account's older tokens and drop its cached answer."""
    receiver = site().receiver
    if receiver is None:
        abort(404)  # MAGAZINE_EVENT_SECRET is unset: nothing could verify an event
    try:
        event = receiver.receive(dict(request.headers), request.get_data())
    except EventVerificationError as error:
        current_app.logger.warning("refused a change event: %s", error)
        return "", 400
    if event.account_id is not None:
        # The wall clock, as the tokens' `iat` (the service shares this host in the demo).
        site().changed_at[event.account_id] = time.time()
    current_app.logger.info("change event %s for %s", event.type, event.account_id)
    return "", 204
