"""`entitlements bans add|lift`: who may not comment, and until when."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import ROW_ID, cli_actor, parse_until, runtime_of, when, with_app

if TYPE_CHECKING:
    from flask import Flask


@click.group("bans")
def bans() -> None:
    """Ban accounts from commenting, permanently or until a date."""


@bans.command("add")
@click.argument("account")
@click.option("--feature", required=True, type=click.Choice(["comment"]))
@click.option("--until", "until", help="ISO 8601 end (default: permanent)")
@click.option("--reason", required=True, help="Why: the admins' note (at most 2000 characters).")
@click.option(
    "--public-message",
    help="What the reader is told (at most 500 characters; default: a neutral sentence).",
)
@with_app
def bans_add(
    app: Flask,
    account: str,
    feature: str,
    until: str | None,
    reason: str,
    public_message: str | None,
) -> None:
    """Ban ACCOUNT from FEATURE."""
    from .. import db
    from ..services.audit import Actor
    from ..services.bans import add_ban

    rt = runtime_of(app)
    ends_at = parse_until(until)
    session = db.session()
    ban = add_ban(
        session,
        account,
        feature=feature,
        reason=reason,
        actor=Actor(cli_actor()),
        now=rt.clock(),
        ends_at=ends_at,
        public_message=public_message,
    )
    session.commit()
    click.echo(f"ban {ban.id}: {account} may not {feature} until {when(ban.ends_at)}")


@bans.command("lift")
@click.argument("ban_id", type=ROW_ID)
@click.option("--reason", default="lifted from the command line", show_default=True)
@with_app
def bans_lift(app: Flask, ban_id: int, reason: str) -> None:
    """Lift the ban BAN_ID now."""
    from .. import db
    from ..services.audit import Actor
    from ..services.bans import lift_ban

    rt = runtime_of(app)
    session = db.session()
    lift_ban(session, ban_id, reason=reason, actor=Actor(cli_actor()), now=rt.clock())
    session.commit()
    click.echo(f"lifted ban {ban_id}")
