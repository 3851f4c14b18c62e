"""`entitlements webhooks ...`: site services' endpoints for change events, and the worker."""

from __future__ import annotations

import functools
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from ..vocabulary import EVENT_TYPES
from .common import ROW_ID, cli_actor, print_table, runtime_of, when, with_app

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session

    from ..services.webhook_delivery import Decrypt, Sender

log = logging.getLogger(__name__)
# How often an idle worker pulls forward deliveries that newer events wait behind.
PULL_EVERY = 5.0
WAKE_EVERY = 5.0


@click.group("webhooks")
def webhooks() -> None:
    """Change events to site services: endpoints, deliveries, replay and the worker."""


def _actor() -> Any:
    from ..services.audit import Actor

    return Actor(cli_actor())


@webhooks.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, type=click.Choice(EVENT_TYPES),
              help="An event type to send (repeatable; default: all).")
@click.option("--description", help="Who receives it (shown in lists).")
@with_app
def webhooks_add(app: Flask, url: str, events: tuple[str, ...], description: str | None) -> None:
    """Register URL; print its whsec_ secret, shown this once."""
    from .. import db
    from ..services.webhook_endpoints import add_endpoint

    rt = runtime_of(app)
    session = db.session()
    endpoint, secret = add_endpoint(
        session, url, event_types=events, secret_key=rt.config.secret_key, actor=_actor(),
        now=rt.clock(), production=rt.config.is_production,
        allow_private=rt.config.webhooks_allow_private, description=description,
    )
    session.commit()
    click.echo(f"webhook endpoint {endpoint.id}: {endpoint.url} ({endpoint.event_types})")
    click.echo(f"secret (shown once; configure the receiver with it): {secret}")


@webhooks.command("list")
@with_app
def webhooks_list(app: Flask) -> None:
    """List the endpoints."""
    from .. import db
    from ..services.webhook_endpoints import endpoint_json, list_endpoints

    rows = [endpoint_json(e) for e in list_endpoints(db.session())]
    for row in rows:
        row["event_types"] = ",".join(row["event_types"])
    print_table(rows, ["id", "status", "url", "event_types", "created_at", "description"])


@webhooks.command("disable")
@click.argument("endpoint_id", type=ROW_ID)
@with_app
def webhooks_disable(app: Flask, endpoint_id: int) -> None:
    """Stop delivering to ENDPOINT_ID (its pending deliveries are marked failed)."""
    from .. import db
    from ..services.webhook_endpoints import disable_endpoint

    session = db.session()
    disable_endpoint(session, endpoint_id, actor=_actor(), now=runtime_of(app).clock())
    session.commit()
    click.echo(f"disabled webhook endpoint {endpoint_id}")


@webhooks.command("rotate-secret")
@click.argument("endpoint_id", type=ROW_ID)
@with_app
def webhooks_rotate(app: Flask, endpoint_id: int) -> None:
    """Give ENDPOINT_ID a new secret; the old one keeps signing for 24 hours."""
    from .. import db
    from ..services.webhook_endpoints import rotate_secret

    rt = runtime_of(app)
    session = db.session()
    endpoint, secret = rotate_secret(
        session, endpoint_id, secret_key=rt.config.secret_key, actor=_actor(), now=rt.clock()
    )
    session.commit()
    click.echo(f"new secret (shown once): {secret}")
    click.echo(f"the previous secret also signs until {when(endpoint.previous_expires_at)}")


@webhooks.command("deliveries")
@click.option("--failed", is_flag=True, help="Only deliveries that gave up.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@with_app
def webhooks_deliveries(app: Flask, failed: bool, limit: int) -> None:
    """List deliveries, newest first."""
    from .. import db
    from ..services.webhook_delivery import delivery_json, list_deliveries

    rows, _ = list_deliveries(db.session(), status="failed" if failed else None, limit=limit)
    print_table(
        [delivery_json(d) for d in rows],
        ["id", "event_id", "endpoint_id", "account_id", "status", "attempts",
         "next_attempt_at", "last_error"],
    )


@webhooks.command("replay")
@click.argument("event_id", type=ROW_ID)
@with_app
def webhooks_replay(app: Flask, event_id: int) -> None:
    """Deliver EVENT_ID again to its endpoints that are still active."""
    from .. import db
    from ..services.webhook_delivery import replay_event

    session = db.session()
    deliveries = replay_event(session, event_id, actor=_actor(), now=runtime_of(app).clock())
    session.commit()
    click.echo(f"event {event_id}: {len(deliveries)} delivery(ies) due again")


@webhooks.command("scan-expiring")
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 365),
              help="Announce grandfather periods ending within this many days.")
@with_app
def webhooks_scan_expiring(app: Flask, days: int) -> None:
    """Send `entitlements.scheduled` for grandfather periods about to end (run from cron)."""
    from .. import db
    from ..services.grandfather_notice import announce_grandfather_endings

    session = db.session()
    count = announce_grandfather_endings(session, now=runtime_of(app).clock(), days=days)
    session.commit()
    click.echo(f"announced {count} grandfather period(s) ending within {days} days")


def _secret_cache() -> Decrypt:
    from ..services.webhook_endpoints import SecretCache

    return SecretCache()


@dataclass
class Worker:
    """What one worker keeps between deliveries: decrypted secrets, endpoints lately woken."""

    decrypt: Decrypt = field(default_factory=_secret_cache)
    woken: dict[int, float] = field(default_factory=dict)  # endpoint id -> time.monotonic()


def deliver_next(
    session: Session, *, secret_key: str, send: Sender, clock: Callable[[], datetime],
    worker: Worker,
) -> str | None:
    """Lease, send and record one due delivery; return its new status (None: none due).

    Three steps, two short transactions: no transaction or row lock spans the POST.
    """
    from ..services.webhook_delivery import claim_next, record_outcome, send_claim, wake_endpoint

    claim = claim_next(session, now=clock())
    if claim is None:
        session.rollback()
        return None
    session.commit()  # the lease is taken: other workers skip the row until it ends
    outcome = send_claim(claim, secret_key=secret_key, send=send, now=clock(),
                         decrypt=worker.decrypt)
    status = record_outcome(session, claim, outcome, now=clock())
    # After a 2xx, at most every WAKE_EVERY per endpoint: the update reads its waiting rows.
    woken = worker.woken.get(claim.endpoint_id)
    if status == "delivered" and (woken is None or time.monotonic() - woken >= WAKE_EVERY):
        worker.woken[claim.endpoint_id] = time.monotonic()
        wake_endpoint(session, claim.endpoint_id, now=clock())
    session.commit()
    if outcome.error is not None:
        # Ids, status code and error class only: never a secret or a body.
        log.warning(
            "webhook delivery %s failed: endpoint %s, event %s, attempt %s, status %s, %s",
            claim.delivery_id, claim.endpoint_id, claim.event_id, claim.attempts,
            outcome.status, outcome.error,
        )
    if status == "failed":
        log.warning("webhook delivery %s gave up: endpoint %s, event %s after %s attempts",
                    claim.delivery_id, claim.endpoint_id, claim.event_id, claim.attempts)
    return status


def deliver(
    app: Flask, stopping: Callable[[], bool], pause: Callable[[float], object], *,
    once: bool = False, poll: float = 0.5, send: Sender | None = None,
) -> int:
    """Deliver due change events until `stopping()` (with `once`: until none is due); return
    how many attempts were made. Runs inside `app`'s context (also `demo run`'s thread)."""
    from sqlalchemy.exc import OperationalError

    from .. import db
    from ..services.webhook_delivery import pull_forward
    from ..services.webhook_send import post

    rt = runtime_of(app)
    session = db.session()
    sender = send or functools.partial(post, allow_private=rt.config.webhooks_allow_private)
    state = Worker()
    sent, pulled_at = 0, float("-inf")
    while not stopping():
        try:
            status = deliver_next(session, secret_key=rt.config.secret_key, send=sender,
                                  clock=rt.clock, worker=state)
            if status is None and time.monotonic() - pulled_at >= PULL_EVERY:
                pulled_at = time.monotonic()
                if pull_forward(session, now=rt.clock()):
                    session.commit()
                    continue
                session.rollback()
        except OperationalError as error:  # the database restarting: wait, then carry on
            session.rollback()
            log.warning("webhook worker: database error, retrying: %s", type(error).__name__)
            pause(poll)
            continue
        if status is None:
            if once:
                break
            pause(poll)
            continue
        sent += 1
    return sent


@webhooks.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--poll", default=0.5, show_default=True, type=click.FloatRange(0.05, 60),
              help="Seconds between looks when nothing is due.")
@with_app
def webhooks_work(app: Flask, once: bool, poll: float) -> None:
    """Deliver change events; safe to run as several replicas on PostgreSQL (one on SQLite)."""
    stopping: list[int] = []
    # SIGTERM (a deploy) finishes the delivery in hand; the next one is left to the others.
    # (A list, not a threading.Event: setting an Event from a signal handler can deadlock.)
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    sent = deliver(app, lambda: bool(stopping), time.sleep, once=once, poll=poll)
    signal.signal(signal.SIGTERM, previous)
    click.echo(f"attempted {sent} delivery(ies)")
