"""Deliver change events as Standard Webhooks: claim, sign, send, back off, fail, replay.

The delivery rows are the durable outbox: written in the change's own transaction, so nothing
is queued that did not happen and nothing that happened is lost. A worker claims one due row
in a short transaction (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL) that marks it
`sending` with a lease (locked_until) and commits; the POST then runs outside any transaction
with an overall deadline, and a second short transaction records the outcome. No lock or
transaction spans network I/O, so disabling an endpoint never waits for a slow receiver. A
worker that dies leaves its lease to expire: the row is due again (at least once; receivers
deduplicate by webhook-id). Another worker cannot take a leased row, nor a later row of the same
(account, endpoint) while an earlier one is pending or sending, so per (account, endpoint) order
holds with several workers.

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

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, aliased

from ..clock import to_rfc3339
from ..errors import ConflictError, NotFoundError
from ..models import ChangeEvent, EventDelivery, WebhookEndpoint
from .audit import Actor, record
from .change_events import sign_event
from .webhook_endpoints import decrypt_secret, signing_secrets
from .webhook_send import DEADLINE_SECONDS, Response, Sender, post

__all__ = ["Response", "Sender", "post"]  # re-exported: the bench and tests send with these

# Exponential backoff between attempts; the last step repeats until the delivery's retry window
# (RETRY_FOR from the event, or from its replay) has passed, then it is marked failed (and
# later ones proceed).
BACKOFF = (
    timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10),
    timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2), timedelta(hours=4),
    timedelta(hours=8), timedelta(hours=12),
)
RETRY_FOR = timedelta(days=3)
TIMEOUT_SECONDS = DEADLINE_SECONDS
# The POST's deadline and time to record its outcome: a lease outliving it is a dead worker's.
LEASE = timedelta(seconds=DEADLINE_SECONDS + 3)
# While later events of the account wait behind a failing one, it is retried at least this
# often (a ban should not wait out 12 h of backoff once the receiver is back).
WAITING_CAP = timedelta(minutes=2)
# After a 2xx, the endpoint's deliveries waiting out a backoff become due now, unless tried
# this recently (bounds retries of one receiver-refused event between successes).
RECENT = timedelta(seconds=30)
USER_AGENT = "entitlements-webhooks/1"
SENDABLE = ("pending", "sending")


@dataclass(frozen=True)
class Claim:
    """A leased delivery and everything its POST needs, read in the claim's transaction."""

    delivery_id: int
    event_id: int
    endpoint_id: int
    attempts: int  # counting this one: the outcome is recorded only if it is still ours
    retry_until: datetime
    url: str
    body: bytes
    secret: str
    previous_secret: str | None
    previous_expires_at: datetime | None


def _body(payload: dict[str, Any]) -> bytes:
    # The exact bytes sent (and signed) for an event, the same on every attempt.
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def message_id(event_id: int) -> str:
    """Return the event's `webhook-id`: the same on every attempt, so receivers deduplicate."""
    return f"evt_{event_id}"


def headers_for(
    event_id: int, body: bytes, secrets: list[str], *, now: datetime
) -> dict[str, str]:
    """Return Standard Webhooks headers; every secret given signs (rotation)."""
    stamp = int(now.timestamp())
    msg_id = message_id(event_id)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": " ".join(sign_event(s, msg_id, stamp, body) for s in secrets),
    }


_earlier = aliased(EventDelivery)
_DUE = (EventDelivery.status.in_(SENDABLE), EventDelivery.next_attempt_at <= bindparam("now"))
_ORDER = (EventDelivery.next_attempt_at, EventDelivery.id)
# Right after a bulk write the planner has no statistics and believes each table holds a row or
# two: given the whole rule at once it checks every due row's siblings, then sorts (4 ms with
# 2000 due, growing with them). So the claim first reads the ids of the next WINDOW due rows in
# order (one table, a partial index), then checks only those, by primary key; the whole due set
# only when all of those are held up (an account's queue behind a failing delivery).
WINDOW = 64
_WINDOW = select(EventDelivery.id).where(*_DUE).order_by(*_ORDER).limit(WINDOW)
_CLAIM = (
    select(EventDelivery)
    .where(
        *_DUE,
        ~exists().where(
            _earlier.endpoint_id == EventDelivery.endpoint_id,
            _earlier.account_id == EventDelivery.account_id,
            _earlier.sequence < EventDelivery.sequence,
            _earlier.status.in_(SENDABLE),
        ),
    )
    .order_by(*_ORDER)
    .limit(1)
    .with_for_update(skip_locked=True)
    .execution_options(populate_existing=True)
)
_CLAIM_NEAR = _CLAIM.where(EventDelivery.id.in_(bindparam("ids", expanding=True)))
# What the POST needs, in one round trip; and whether the endpoint is still active.
_DETAILS = (
    select(ChangeEvent.payload, WebhookEndpoint.url, WebhookEndpoint.secret_encrypted,
           WebhookEndpoint.previous_secret_encrypted, WebhookEndpoint.previous_expires_at,
           WebhookEndpoint.status)
    .join(WebhookEndpoint, WebhookEndpoint.id == bindparam("endpoint_id"))
    .where(ChangeEvent.id == bindparam("event_id"))
)


def claim_next(session: Session, *, now: datetime) -> Claim | None:
    """Lease the next due delivery to an active endpoint whose earlier siblings (same endpoint
    and account) are done; the caller commits before sending.

    Due means pending and past its backoff, or sending with an expired lease.
    """
    while True:
        ids = session.scalars(_WINDOW, {"now": now}).all()
        if not ids:
            return None
        delivery = session.scalar(_CLAIM_NEAR, {"now": now, "ids": ids})
        if delivery is None and len(ids) == WINDOW:
            delivery = session.scalar(_CLAIM, {"now": now})
        if delivery is None:
            return None
        payload, url, secret, previous, previous_expires_at, status = session.execute(
            _DETAILS, {"endpoint_id": delivery.endpoint_id, "event_id": delivery.event_id}
        ).one()
        if status == "active":
            break
        # Disabling fails an endpoint's deliveries as it commits; one left over is failed here.
        delivery.status, delivery.last_error = "failed", "endpoint disabled"
    delivery.status, delivery.attempts = "sending", delivery.attempts + 1
    delivery.locked_until = delivery.next_attempt_at = now + LEASE
    return Claim(
        delivery_id=delivery.id, event_id=delivery.event_id, endpoint_id=delivery.endpoint_id,
        attempts=delivery.attempts,
        retry_until=delivery.retry_until or delivery.created_at + RETRY_FOR,
        url=url, body=_body(payload), secret=secret, previous_secret=previous,
        previous_expires_at=previous_expires_at,
    )


def next_delay(attempts: int) -> timedelta:
    """Return the wait after the `attempts`-th failed attempt."""
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


Decrypt = Callable[[str, str, int], str]


def send_claim(
    claim: Claim, *, secret_key: str, send: Sender, now: datetime, decrypt: Decrypt = decrypt_secret
) -> Response:
    """Sign and POST a claimed delivery (no session: runs outside any transaction)."""
    try:
        secrets = signing_secrets(
            claim.endpoint_id, claim.secret, claim.previous_secret, claim.previous_expires_at,
            secret_key, now=now, decrypt=decrypt,
        )
    except ConflictError as error:
        return Response(None, str(error))
    headers = headers_for(claim.event_id, claim.body, secrets, now=now)
    return send(claim.url, headers, claim.body)


def _has_waiting(session: Session, claim: Claim) -> bool:
    mine = select(EventDelivery.account_id, EventDelivery.sequence).where(
        EventDelivery.id == claim.delivery_id).subquery()
    return bool(session.scalar(select(exists().where(
        EventDelivery.endpoint_id == claim.endpoint_id,
        EventDelivery.account_id == mine.c.account_id,
        EventDelivery.sequence > mine.c.sequence,
        EventDelivery.status == "pending",
    ))))


def record_outcome(session: Session, claim: Claim, outcome: Response, *, now: datetime) -> str:
    """Record a claimed delivery's outcome; return its new status, or "lost" when the lease
    was no longer ours (expired and taken again, or the endpoint disabled meanwhile)."""
    values: dict[str, Any]
    if outcome.error is None:
        values = {"status": "delivered", "delivered_at": now, "last_error": None}
    elif now >= claim.retry_until:
        values = {"status": "failed", "last_error": outcome.error}
    else:
        delay = next_delay(claim.attempts)
        if delay > WAITING_CAP and _has_waiting(session, claim):
            delay = WAITING_CAP
        values = {"status": "pending", "last_error": outcome.error,
                  "next_attempt_at": now + delay}
    result = session.execute(
        update(EventDelivery)
        .where(EventDelivery.id == claim.delivery_id, EventDelivery.status == "sending",
               EventDelivery.attempts == claim.attempts)
        .values(locked_until=None, last_attempt_at=now, last_status_code=outcome.status,
                **values)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return str(values["status"]) if result.rowcount == 1 else "lost"


def wake_endpoint(session: Session, endpoint_id: int, *, now: datetime) -> int:
    """Make due now the endpoint's deliveries waiting out a backoff (it just answered 2xx:
    they need not wait longer), except those tried within RECENT; return how many."""
    result = session.execute(
        update(EventDelivery)
        .where(EventDelivery.endpoint_id == endpoint_id, EventDelivery.status == "pending",
               EventDelivery.next_attempt_at > now, EventDelivery.last_attempt_at < now - RECENT)
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount


def pull_forward(session: Session, *, now: datetime) -> int:
    """Make due now each delivery waiting out a backoff that a newer event of its account
    queued behind since its last attempt (once per such event); return how many."""
    later = aliased(EventDelivery)
    result = session.execute(
        update(EventDelivery)
        .where(
            EventDelivery.status == "pending",
            EventDelivery.next_attempt_at > now,
            exists().where(
                later.endpoint_id == EventDelivery.endpoint_id,
                later.account_id == EventDelivery.account_id,
                later.sequence > EventDelivery.sequence,
                later.status == "pending",
                later.created_at > EventDelivery.last_attempt_at,
            ),
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount


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
        # A fresh retry window: an old event replayed gets its backoff again, not one attempt.
        delivery.attempts, delivery.retry_until, delivery.locked_until = 0, now + RETRY_FOR, None
    record(session, actor, action="webhook.replay", subject_type="change_event",
           subject_id=str(event.id), account_id=event.account_id, now=now,
           after={"deliveries": [d.id for d in deliveries]})
    return deliveries


def list_deliveries(
    session: Session, *, status: str | None = None, limit: int = 100, before: int | None = None
) -> tuple[list[EventDelivery], int | None]:
    """Return deliveries newest first (optionally of one status) and the next page's cursor."""
    statement = select(EventDelivery).order_by(EventDelivery.id.desc()).limit(limit + 1)
    if status == "pending":  # a delivery being sent is still pending to its readers
        statement = statement.where(EventDelivery.status.in_(SENDABLE))
    elif status is not None:
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
        "status": "pending" if delivery.status == "sending" else delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": to_rfc3339(delivery.next_attempt_at),
        "last_attempt_at": to_rfc3339(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": to_rfc3339(delivery.delivered_at),
        "created_at": to_rfc3339(delivery.created_at),
    }
