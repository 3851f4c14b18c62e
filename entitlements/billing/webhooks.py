"""Receive Stripe events exactly once: verify, record with the effect, or record the failure."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..models import StripeEvent
from ..models.base import dialect_insert
from .handlers import HANDLERS, BillingContext
from .signature import SignatureError, verify
from .stripe_gateway import StripeNotFoundError, StripeUnavailableError
from .sync import CannotPlaceError

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 512 * 1024


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery, and the HTTP status that tells Stripe."""

    status: int
    detail: str
    event_id: str | None = None


def parse_event(payload: bytes) -> dict[str, Any]:
    """Return the event object, or raise ValueError if it is not a Stripe event."""
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("body is not JSON") from exc
    if not isinstance(event, dict) or event.get("object") != "event":
        raise ValueError("body is not a Stripe event")
    obj = (event.get("data") or {}).get("object")
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise ValueError("event lacks id or type")
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ValueError("event lacks data.object.id")
    return event


def receive(
    session: Session,
    payload: bytes,
    signature: str | None,
    *,
    secrets: tuple[str, ...],
    context: Callable[[], BillingContext],
    wall_now: datetime,
) -> Outcome:
    """Verify and process one delivery; the caller maps the outcome to an HTTP answer.

    `wall_now` is the real time the delivery arrived: Stripe signs with the wall clock even
    when a test clock moves the billing time (`ctx.now`) forward.
    """
    if len(payload) > MAX_BODY_BYTES:
        return Outcome(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        verify(payload, signature, secrets, now=wall_now)
    except SignatureError as exc:
        return Outcome(400, f"signature rejected: {exc}")
    try:
        event = parse_event(payload)
    except ValueError as exc:
        return Outcome(400, str(exc))
    # Built only for an authentic event: a forgery gets its 4xx even if billing is down.
    return process(session, event, context())


def _insert_event(session: Session, event: dict[str, Any], now: datetime) -> None:
    """Insert the event row unless it is there already."""
    statement = (
        dialect_insert(session, StripeEvent)
        .values(
            id=event["id"],
            type=event["type"],
            livemode=bool(event.get("livemode")),
            status="received",
            object_id=event["data"]["object"]["id"],
            stripe_created_at=datetime.fromtimestamp(int(event.get("created") or 0), UTC),
            received_at=now,
            attempts=0,
            payload=event,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    # On PostgreSQL a concurrent duplicate waits here until the first delivery commits.
    session.execute(statement)


def process(
    session: Session, event: dict[str, Any], ctx: BillingContext, *, force: bool = False
) -> Outcome:
    """Apply one event exactly once: its record commits with its effect, or not at all."""
    event_id = event["id"]
    try:
        _insert_event(session, event, ctx.now)
        row = session.scalar(
            select(StripeEvent).where(StripeEvent.id == event_id).with_for_update()
        )
        assert row is not None
        if row.status in {"processed", "ignored"} and not force:
            session.rollback()
            return Outcome(200, "duplicate; already applied", event_id)
        handler = HANDLERS.get(event["type"])
        if bool(event.get("livemode")) != ctx.gateway.livemode:
            status = "ignored"  # a test-mode event at a live endpoint, or the reverse
        elif handler is None:
            status = "ignored"
        else:
            handler(session, event["data"]["object"], ctx)
            status = "processed"
        row.status, row.processed_at, row.last_error = status, ctx.now, None
        row.attempts += 1
        session.commit()
        return Outcome(200, status, event_id)
    except CannotPlaceError as exc:
        return _failed(session, event, ctx.now, 409, str(exc))
    except StripeUnavailableError as exc:
        return _failed(session, event, ctx.now, 503, f"Stripe unavailable: {exc}")
    except StripeNotFoundError as exc:
        return _failed(session, event, ctx.now, 409, f"Stripe object not found: {exc}")
    except Exception as exc:
        log.exception("webhook %s (%s) failed", event_id, event["type"])
        return _failed(session, event, ctx.now, 500, f"handler failed: {type(exc).__name__}")


def _failed(
    session: Session, event: dict[str, Any], now: datetime, status: int, detail: str
) -> Outcome:
    """Roll the effect back, then note the failure so operators can see and replay it."""
    session.rollback()
    _insert_event(session, event, now)
    # A concurrent delivery may have applied the event meanwhile: never downgrade that.
    session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == event["id"], StripeEvent.status.in_(["received", "failed"]))
        .values(status="failed", attempts=StripeEvent.attempts + 1, last_error=detail[:1000])
    )
    session.commit()
    return Outcome(status, detail, event["id"])
