"""Deliver change events as Standard Webhooks: claim, sign, send, back off, fail, replay.

The delivery rows are the durable outbox: written in the change's own transaction, so nothing
is queued that did not happen and nothing that happened is lost. A worker claims one due row
with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL) and keeps that transaction open while it
posts: another replica skips the row, and a worker that dies releases its lock with its
connection, so the row is simply due again. On SQLite (the demo) the lock clause is ignored:
run one worker there.

Why no job library (procrastinate 3.10, pgqueuer 1.6), as issue 11 suggested: neither runs on
SQLite, the embedded default whose demo delivers events too; neither enqueues inside the
SQLAlchemy (psycopg 3) transaction that makes the change (pgqueuer's drivers require an
autocommit connection; procrastinate's SQLAlchemy connector is psycopg2's, its others bring
their own pool), so the "event written with the change" guarantee needs this outbox either
way; and ordering per (account, endpoint), a later event waiting for an earlier one, is a query
on these rows, not a job property. With the outbox, a library could only wake workers; polling
an indexed (status, next_attempt_at) every half second meets the 5 s revocation target
(tests/e2e/test_change_events_live.py saw 0.6 s). Revisit with the deployment issue's
asynchronous webhook processing.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from ..clock import to_rfc3339
from ..errors import NotFoundError
from ..models import ChangeEvent, EventDelivery, WebhookEndpoint
from .audit import Actor, record
from .change_events import sign_event
from .webhook_endpoints import signing_secrets

# Exponential backoff between attempts; the last step repeats until RETRY_FOR has passed
# since the event was written, then the delivery is marked failed (and later ones proceed).
BACKOFF = (
    timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10),
    timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2), timedelta(hours=4),
    timedelta(hours=8), timedelta(hours=12),
)
RETRY_FOR = timedelta(days=3)
TIMEOUT_SECONDS = 5.0
RESPONSE_CAP = 4096  # bytes of a response read (and its first 200 kept), the rest ignored
USER_AGENT = "entitlements-webhooks/1"


@dataclass(frozen=True)
class Response:
    """What one POST came to: a status code, or the error that prevented one."""

    status: int | None
    error: str | None = None


Sender = Callable[[str, Mapping[str, str], bytes], Response]


def post(url: str, headers: Mapping[str, str], body: bytes) -> Response:
    """POST once with short timeouts; never follow a redirect; read at most RESPONSE_CAP."""
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection = kind(parts.hostname or "", parts.port, timeout=TIMEOUT_SECONDS)
    except ValueError as error:  # a port that does not parse: registered before the checks
        return Response(None, f"bad url: {error}")
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        reply = connection.getresponse()
        text = reply.read(RESPONSE_CAP)
        if 200 <= reply.status < 300:
            return Response(reply.status)
        return Response(reply.status, f"HTTP {reply.status}: {text[:200].decode(errors='replace')}")
    # UnicodeError: a host name that IDNA cannot encode.
    except (OSError, http.client.HTTPException, UnicodeError) as error:
        return Response(None, f"{type(error).__name__}: {error}"[:500])
    finally:
        connection.close()


def body_of(event: ChangeEvent) -> bytes:
    """Return the exact bytes sent (and signed) for an event, the same on every attempt."""
    return json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def message_id(event: ChangeEvent) -> str:
    """Return the event's `webhook-id`: the same on every attempt, so receivers deduplicate."""
    return f"evt_{event.id}"


def headers_for(
    event: ChangeEvent, body: bytes, secrets: list[str], *, now: datetime
) -> dict[str, str]:
    """Return Standard Webhooks headers; every secret given signs (rotation)."""
    stamp = int(now.timestamp())
    msg_id = message_id(event)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": " ".join(sign_event(s, msg_id, stamp, body) for s in secrets),
    }


def claim_next(session: Session, *, now: datetime) -> EventDelivery | None:
    """Lock the next due delivery whose earlier siblings (same endpoint and account) are done.

    Held until the caller commits: other workers skip it, and skip its later siblings too
    because this one is still pending.
    """
    earlier = aliased(EventDelivery)
    blocked = exists().where(
        earlier.endpoint_id == EventDelivery.endpoint_id,
        earlier.account_id == EventDelivery.account_id,
        earlier.status == "pending",
        earlier.sequence < EventDelivery.sequence,
    )
    return session.scalar(
        select(EventDelivery)
        .where(
            EventDelivery.status == "pending",
            EventDelivery.next_attempt_at <= now,
            ~blocked,
        )
        .order_by(EventDelivery.next_attempt_at, EventDelivery.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def next_delay(attempts: int) -> timedelta:
    """Return the wait after the `attempts`-th failed attempt."""
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def attempt(
    session: Session, delivery: EventDelivery, *, secret_key: str, send: Sender,
    clock: Callable[[], datetime],
) -> str:
    """Send one claimed delivery and record the outcome; return its new status."""
    event = session.get(ChangeEvent, delivery.event_id)
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    assert event is not None
    assert endpoint is not None
    now = clock()
    body = body_of(event)
    headers = headers_for(event, body, signing_secrets(endpoint, secret_key, now=now), now=now)
    outcome = send(endpoint.url, headers, body)
    done = clock()
    delivery.attempts += 1
    delivery.last_attempt_at, delivery.last_status_code = done, outcome.status
    if outcome.error is None:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", done, None
    elif done - event.created_at >= RETRY_FOR:
        delivery.status, delivery.last_error = "failed", outcome.error
    else:
        delivery.last_error = outcome.error
        delivery.next_attempt_at = done + next_delay(delivery.attempts)
    return delivery.status


def get_event(session: Session, event_id: int) -> ChangeEvent:
    """Return a change event by id, or raise NotFoundError."""
    event = session.get(ChangeEvent, event_id)
    if event is None:
        raise NotFoundError(f"no change event with id {event_id}")
    return event


def replay_event(
    session: Session, event_id: int, *, actor: Actor, now: datetime
) -> list[EventDelivery]:
    """Deliver an event again to its endpoints that are still active; audited."""
    event = get_event(session, event_id)
    deliveries = list(
        session.scalars(
            select(EventDelivery)
            .join(WebhookEndpoint, WebhookEndpoint.id == EventDelivery.endpoint_id)
            .where(EventDelivery.event_id == event_id, WebhookEndpoint.status == "active")
            .with_for_update(of=EventDelivery)
        )
    )
    for delivery in deliveries:
        delivery.status, delivery.next_attempt_at, delivery.delivered_at = "pending", now, None
    record(session, actor, action="webhook.replay", subject_type="change_event",
           subject_id=str(event.id), account_id=event.account_id, now=now,
           after={"deliveries": [d.id for d in deliveries]})
    return deliveries


def list_deliveries(
    session: Session, *, status: str | None = None, limit: int = 100, before: int | None = None
) -> tuple[list[EventDelivery], int | None]:
    """Return deliveries newest first (optionally of one status) and the next page's cursor."""
    statement = select(EventDelivery).order_by(EventDelivery.id.desc()).limit(limit + 1)
    if status is not None:
        statement = statement.where(EventDelivery.status == status)
    if before is not None:
        statement = statement.where(EventDelivery.id < before)
    rows = list(session.scalars(statement))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None


def delivery_json(delivery: EventDelivery) -> dict[str, Any]:
    """Return the JSON form of a delivery."""
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "endpoint_id": delivery.endpoint_id,
        "account_id": delivery.account_id,
        "sequence": delivery.sequence,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": to_rfc3339(delivery.next_attempt_at),
        "last_attempt_at": to_rfc3339(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": to_rfc3339(delivery.delivered_at),
        "created_at": to_rfc3339(delivery.created_at),
    }
