"""Change events in the console: the endpoints, failed deliveries, and replaying an event."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import db
from ..errors import InvalidError
from ..http.console_session import admin_required, current_actor
from ..runtime import now
from ..services.webhook_delivery import list_deliveries, replay_event
from ..services.webhook_endpoints import list_endpoints

bp = Blueprint("webhooks", __name__)

PAGE = 50
MAX_ID = 2**63 - 1


def _cursor(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise InvalidError("before must be a delivery id", field="before")
    return int(value)


@bp.get("/webhooks")
@admin_required
def webhooks() -> str:
    """List the endpoints and the deliveries that failed for good, newest first."""
    session = db.session()
    failed, older = list_deliveries(
        session, status="failed", limit=PAGE, before=_cursor(request.args.get("before"))
    )
    endpoints = list_endpoints(session)
    return render_template(
        "admin/webhooks.html",
        endpoints=endpoints,
        urls={endpoint.id: endpoint.url for endpoint in endpoints},
        failed=failed,
        older=older,
        is_first="before" not in request.args,
    )


@bp.post("/webhooks/events/<int:event_id>/replay")
@admin_required
def replay(event_id: int) -> Response:
    """Make an event's deliveries due again (audited as webhook.replay)."""
    if event_id > MAX_ID:
        raise InvalidError("no such event", field="event_id")
    session = db.session()
    deliveries = replay_event(session, event_id, actor=current_actor(), now=now())
    session.commit()
    flash(f"Event {event_id}: {len(deliveries)} delivery(ies) due again.")
    return redirect(url_for("console.webhooks.webhooks"), code=303)
