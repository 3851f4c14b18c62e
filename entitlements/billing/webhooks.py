"""Receive Stripe events exactly once: verify, record with the effect, or record the failure."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..json_rules import JSONRuleError, check_names, check_values, parse_json
from ..models import StripeEvent
from ..models.base import dialect_insert
from ..text_rules import text_problem
from .handlers import HANDLERS, BillingContext
from .signature import SignatureError, verify
from .stripe_gateway import StripeNotFoundError, StripeUnavailableError
from .sync import CannotPlaceError

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 512 * 1024
# The stripe_events columns: Stripe documents its ids as at most 255 characters.
MAX_ID_LENGTH = 255
MAX_TYPE_LENGTH = 128
# The last second datetime can hold (9999-12-31T23:59:59Z).
MAX_CREATED = 253_402_300_799
STAND_IN_PREFIX = "invalid_"
# Authentic but unusable: a non-2xx makes Stripe retry for three days while the row, marked
# failed, tells an operator; not 500, which means this service broke.
MALFORMED_STATUS = 422


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery, and the HTTP status that tells Stripe."""

    status: int
    detail: str
    event_id: str | None = None


class MalformedEventError(ValueError):
    """A signed delivery that is not a Stripe event this code can store and apply as it is."""


def parse_event(payload: bytes) -> Any:
    """Decode a delivery body under the JSON rules (json_rules), or raise MalformedEventError."""
    # Duplicate keys are refused too: Stripe never sends them, and the signature covers the
    # body, so one means a broken sender; it is recorded failed like any malformed event.
    try:
        return parse_json(payload)[0]
    except JSONRuleError as exc:
        raise MalformedEventError(str(exc)) from exc


def is_storable_text(value: Any, limit: int) -> bool:
    """Return whether `value` is a string of 1 to `limit` characters a database column keeps."""
    return isinstance(value, str) and value != "" and text_problem(value, limit=limit) is None


def event_created(value: Any) -> int | None:
    """Return `created` as Unix seconds if it is one, else None."""
    # bool is an int in Python; Stripe sends a positive whole number of seconds.
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_CREATED:
        return value
    return None


def check_event(event: Any) -> dict[str, Any]:
    """Return `event` if it is a Stripe event we can store and apply; else name the field."""
    if not isinstance(event, dict):
        raise MalformedEventError("body is not a JSON object")
    try:
        # No length limit beyond the body's: Stripe's own strings are its business.
        check_names(event, limit=MAX_BODY_BYTES)
        check_values(event, limit=MAX_BODY_BYTES)
    except JSONRuleError as exc:
        raise MalformedEventError(str(exc)) from exc
    if event.get("object") != "event":
        raise MalformedEventError('object is not "event"')
    if not is_storable_text(event.get("id"), MAX_ID_LENGTH):
        raise MalformedEventError(f"id is not a string of 1 to {MAX_ID_LENGTH} characters")
    if not is_storable_text(event.get("type"), MAX_TYPE_LENGTH):
        raise MalformedEventError(f"type is not a string of 1 to {MAX_TYPE_LENGTH} characters")
    if event_created(event.get("created")) is None:
        raise MalformedEventError("created is not a positive whole number of Unix seconds")
    if not isinstance(event.get("livemode", False), bool):
        raise MalformedEventError("livemode is not a boolean")
    data = event.get("data")
    if not isinstance(data, dict):
        raise MalformedEventError("data is not an object")
    obj = data.get("object")
    if not isinstance(obj, dict):
        raise MalformedEventError("data.object is not an object")
    if not is_storable_text(obj.get("id"), MAX_ID_LENGTH):
        raise MalformedEventError(
            f"data.object.id is not a string of 1 to {MAX_ID_LENGTH} characters"
        )
    try:
        json.dumps(event, allow_nan=False)
    except ValueError as exc:  # 1e400 decodes to inf, which JSON (and PostgreSQL) cannot keep
        raise MalformedEventError("event holds a number too large for JSON") from exc
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
    """Verify and process one delivery; the caller commits, then maps the outcome to HTTP.

    `wall_now` is the real time the delivery arrived: Stripe signs with the wall clock even
    when a test clock moves the billing time (`ctx.now`) forward.
    """
    if len(payload) > MAX_BODY_BYTES:
        return Outcome(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        verify(payload, signature, secrets, now=wall_now)
    except SignatureError as exc:
        return Outcome(400, f"signature rejected: {exc}")
    # Built only for an authentic event: a forgery gets its 4xx even if billing is down.
    ctx = context()
    try:
        event = parse_event(payload)
    except MalformedEventError as exc:
        # Authentic but not JSON: keep the text so an operator can see what Stripe sent.
        unparsed = {"unparsed_body": payload.decode("utf-8", "replace")}
        return _malformed(session, unparsed, ctx.now, str(exc))
    return process(session, event, ctx)


def record_key(event: Any) -> str:
    """Return the stripe_events id for a delivery: its own id, or a stand-in derived from it.

    An event whose id cannot be kept (none, not a string, too long, NUL) is still recorded, under
    `invalid_` + the SHA-256 of its id (or of the whole event), so Stripe's retries of it land
    on the same row and `events replay` finds it again from its stored copy.
    """
    raw_id = event.get("id") if isinstance(event, dict) else None
    if is_storable_text(raw_id, MAX_ID_LENGTH):
        return str(raw_id)
    basis = raw_id if isinstance(raw_id, str) else json.dumps(event, sort_keys=True)
    return STAND_IN_PREFIX + hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()


def _insert_event(session: Session, event: dict[str, Any], now: datetime) -> None:
    """Insert the event row unless it is there already (tolerating a malformed event)."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    object_id = obj.get("id") if isinstance(obj, dict) else None
    created = event_created(event.get("created"))
    statement = (
        dialect_insert(session, StripeEvent)
        .values(
            id=record_key(event),
            type=event["type"] if is_storable_text(event.get("type"), MAX_TYPE_LENGTH) else "-",
            livemode=event.get("livemode") is True,
            status="received",
            object_id=object_id if is_storable_text(object_id, MAX_ID_LENGTH) else None,
            stripe_created_at=now if created is None else datetime.fromtimestamp(created, UTC),
            received_at=now,
            attempts=0,
            payload=event,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    # On PostgreSQL a concurrent duplicate waits here until the first delivery commits.
    session.execute(statement)


def process(session: Session, event: Any, ctx: BillingContext, *, force: bool = False) -> Outcome:
    """Apply one event exactly once: its record commits with its effect, or not at all.

    A malformed event is only recorded as failed in `session`: the caller commits.
    """
    try:
        check_event(event)
    except MalformedEventError as exc:
        return _malformed(session, event, ctx.now, str(exc))
    return _apply(session, event, ctx, force=force)


def _apply(session: Session, event: dict[str, Any], ctx: BillingContext, *, force: bool) -> Outcome:
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


def _malformed(session: Session, event: Any, now: datetime, detail: str) -> Outcome:
    """Note an authentic but malformed event as failed (uncommitted); 422 makes Stripe retry.

    The stored copy is what `entitlements events replay` applies once the code accepts it.
    Nothing else was written before it, so there is nothing to roll back.
    """
    key = record_key(event)
    if not isinstance(event, dict) or not _json_storable(event):
        # Kept under its key, so a replay of this stored copy finds the same row.
        event = {"id": key, "unparsed_body": json.dumps(event)}
    log.warning("webhook %s is malformed: %s", key, detail)
    _insert_event(session, event, now)
    session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == key, StripeEvent.status.in_(["received", "failed"]))
        .values(
            status="failed",
            attempts=StripeEvent.attempts + 1,
            last_error=f"malformed event: {detail}"[:1000],
        )
    )
    return Outcome(MALFORMED_STATUS, f"malformed event recorded as {key}: {detail}", key)


def _json_storable(event: dict[str, Any]) -> bool:
    try:
        json.dumps(event, allow_nan=False)
    except ValueError:
        return False
    return True
