"""`entitlements events list|replay`: the Stripe events the webhook received."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import billing_context, fail, print_table, when, with_app

if TYPE_CHECKING:
    from flask import Flask


@click.group("events")
def events() -> None:
    """Stripe events received by the webhook."""


@events.command("list")
@click.option("--failed", is_flag=True, help="Only events whose processing failed.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@with_app
def events_list(app: Flask, failed: bool, limit: int) -> None:
    """List recent events, newest first."""
    from sqlalchemy import select

    from .. import db
    from ..models import StripeEvent

    query = select(StripeEvent).order_by(StripeEvent.received_at.desc()).limit(limit)
    if failed:
        query = query.where(StripeEvent.status == "failed")
    rows = db.session().scalars(query)
    print_table(
        [
            {
                "id": r.id,
                "type": r.type,
                "status": r.status,
                "attempts": r.attempts,
                "received": when(r.received_at),
                "error": (r.last_error or "")[:60],
            }
            for r in rows
        ],
        ["id", "type", "status", "attempts", "received", "error"],
    )


@events.command("replay")
@click.argument("event_id")
@click.option("--force", is_flag=True, help="Replay even if it was already applied.")
@with_app
def events_replay(app: Flask, event_id: str, force: bool) -> None:
    """Apply EVENT_ID again: its stored copy, or Stripe's if we never received it."""
    from .. import db
    from ..billing.webhooks import MAX_ID_LENGTH, is_storable_text, process
    from ..models import StripeEvent

    if not is_storable_text(event_id, MAX_ID_LENGTH):
        fail(f"EVENT_ID must be 1 to {MAX_ID_LENGTH} characters, without NUL")
    ctx = billing_context(app)
    session = db.session()
    row = session.get(StripeEvent, event_id)
    if row is not None and row.status in {"processed", "ignored"} and not force:
        fail(f"event {event_id} was already {row.status}; add --force to apply it again")
    event = row.payload if row is not None else ctx.gateway.retrieve_event(event_id)
    session.rollback()
    outcome = process(session, event, ctx, force=force)
    session.commit()  # a malformed event's failure is recorded again, so `events list` shows it
    if outcome.status != 200:
        fail(f"event {event_id} failed again: {outcome.detail}", 1)
    click.echo(f"event {event_id}: {outcome.detail}")
