"""`entitlements webhooks ...`: site services' endpoints for change events, and the worker."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..vocabulary import EVENT_TYPES
from .common import ROW_ID, cli_actor, print_table, runtime_of, when, with_app

if TYPE_CHECKING:
    from flask import Flask


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
        now=rt.clock(), description=description,
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


def deliver(
    app: Flask, stopping: Callable[[], bool], pause: Callable[[float], object], *,
    once: bool = False, poll: float = 0.5,
) -> int:
    """Deliver due change events until `stopping()` (with `once`: until none is due); return
    how many attempts were made. Runs inside `app`'s context (also `demo run`'s thread)."""
    from .. import db
    from ..services.webhook_delivery import attempt, claim_next, post

    rt = runtime_of(app)
    session = db.session()
    sent = 0
    while not stopping():
        delivery = claim_next(session, now=rt.clock())
        if delivery is None:
            session.rollback()
            if once:
                break
            pause(poll)
            continue
        attempt(session, delivery, secret_key=rt.config.secret_key, send=post, clock=rt.clock)
        # Committing releases the row lock, which other workers were skipping.
        session.commit()
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
