"""The admin API's webhook endpoints: register, list, disable, rotate; deliveries; replay."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ... import db
from ...errors import InvalidError
from ...http.bearer import admin_actor, require_admin
from ...http.body import json_body
from ...http.params import int_arg, query_args, row_id, text_field
from ...runtime import now, runtime
from ...services.webhook_delivery import delivery_json, list_deliveries, replay_event
from ...services.webhook_endpoints import (
    add_endpoint,
    disable_endpoint,
    endpoint_json,
    list_endpoints,
    rotate_secret,
)
from ..openapi import ROW_ID, document
from .common import LIMIT, NEXT_CURSOR, READ, TAG, WRITE

bp = Blueprint("webhooks", __name__)

DELIVERY_STATUSES = ("pending", "delivered", "failed")
# An answer carrying a whsec_ secret must not stay in a browser's or a proxy's cache.
NO_STORE = {"Cache-Control": "no-store"}


@bp.post("/webhooks")
@document(
    "Register a site service's endpoint for change events; the answer holds its secret, once.",
    request_body="WebhookEndpointCreate",
    body_required=True,
    responses={
        201: "WebhookEndpointSecret", 400: "Problem", 401: "Problem", 403: "Problem",
        409: "Problem", 422: "Problem",
    },
    tag=TAG,
)
@require_admin
def create_endpoint() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Add an endpoint; its whsec_ secret is shown in this answer only."""
    body = json_body({"url", "event_types", "description"})
    types = body.get("event_types", [])
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise InvalidError("event_types must be a list of strings", field="event_types")
    session = db.session()
    config = runtime().config
    endpoint, secret = add_endpoint(
        session, text_field(body, "url") or "", event_types=types,
        secret_key=config.secret_key, actor=admin_actor(), now=now(),
        production=config.is_production, allow_private=config.webhooks_allow_private,
        description=text_field(body, "description", required=False),
    )
    session.commit()
    return {**endpoint_json(endpoint), "secret": secret}, 201, NO_STORE


@bp.get("/webhooks")
@document("List the webhook endpoints, oldest first.", responses={200: "WebhookEndpointList",
          **READ}, tag=TAG)
@require_admin
def list_endpoints_view() -> dict[str, Any]:
    """List every endpoint (never their secrets)."""
    query_args(set())
    return {"endpoints": [endpoint_json(e) for e in list_endpoints(db.session())]}


@bp.post("/webhooks/<endpoint_id>/disable")
@document("Stop delivering to an endpoint; its pending deliveries are marked failed.",
          responses={200: "WebhookEndpoint", **WRITE}, tag=TAG)
@require_admin
def disable_endpoint_view(endpoint_id: str) -> dict[str, Any]:
    """Disable one endpoint."""
    number = row_id(endpoint_id, "webhook endpoint")
    session = db.session()
    endpoint = disable_endpoint(session, number, actor=admin_actor(), now=now())
    session.commit()
    return endpoint_json(endpoint)


@bp.post("/webhooks/<endpoint_id>/rotate-secret")
@document("Give an endpoint a new secret; the previous one also signs for 24 hours.",
          responses={200: "WebhookEndpointSecret", **WRITE}, tag=TAG)
@require_admin
def rotate_secret_view(endpoint_id: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Rotate one endpoint's secret; the new one is shown in this answer only."""
    number = row_id(endpoint_id, "webhook endpoint")
    session = db.session()
    endpoint, secret = rotate_secret(
        session, number, secret_key=runtime().config.secret_key, actor=admin_actor(), now=now()
    )
    session.commit()
    return {**endpoint_json(endpoint), "secret": secret}, 200, NO_STORE


@bp.get("/webhooks/deliveries")
@document(
    "Deliveries of change events, newest first; page with cursor.",
    query={
        "status": {"enum": list(DELIVERY_STATUSES)},
        "limit": LIMIT,
        "cursor": {**ROW_ID, "description": NEXT_CURSOR},
    },
    responses={200: "WebhookDeliveryPage", **READ},
    tag=TAG,
)
@require_admin
def list_deliveries_view() -> dict[str, Any]:
    """List deliveries, optionally only pending, delivered or failed ones."""
    args = query_args({"status", "limit", "cursor"})
    status = args.get("status")
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidError(f"status must be one of {', '.join(DELIVERY_STATUSES)}", field="status")
    rows, following = list_deliveries(
        db.session(), status=status, limit=int_arg(args, "limit", default=50, low=1, high=500),
        before=row_id(args["cursor"], "cursor") if "cursor" in args else None,
    )
    return {
        "deliveries": [delivery_json(d) for d in rows],
        "next_cursor": None if following is None else str(following),
    }


@bp.post("/webhooks/events/<event_id>/replay")
@document("Deliver a change event again to its endpoints that are still active.",
          responses={200: "WebhookReplay", **WRITE}, tag=TAG)
@require_admin
def replay_event_view(event_id: str) -> dict[str, Any]:
    """Make an event's deliveries due again."""
    number = row_id(event_id, "event")
    session = db.session()
    deliveries = replay_event(session, number, actor=admin_actor(), now=now())
    session.commit()
    return {"event_id": number, "deliveries": [delivery_json(d) for d in deliveries]}
