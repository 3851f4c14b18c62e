"""`entitlements reconcile`: repair local subscriptions from Stripe."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import billing_context, with_app

if TYPE_CHECKING:
    from flask import Flask


@click.command("reconcile")
@with_app
def reconcile_command(app: Flask) -> None:
    """Repair local subscriptions from Stripe and apply undelivered events (idempotent)."""
    from .. import db
    from ..billing.reconcile import reconcile

    ctx = billing_context(app)
    report = reconcile(db.session(), ctx, progress=lambda line: click.echo(f"... {line}", err=True))
    for line in report.changed:
        click.echo(f"repaired {line}")
    for line in report.events_applied:
        click.echo(f"applied event {line}")
    for line in report.unplaced:
        click.echo(f"skipped {line}: its customer is not linked to an account", err=True)
    for line in report.errors:
        click.echo(f"error {line}", err=True)
    click.echo(
        f"{report.subscriptions_seen} subscriptions checked, {len(report.changed)} repaired; "
        f"{report.events_seen} undelivered events checked, {len(report.events_applied)} applied"
    )
    if report.errors:
        raise SystemExit(1)
