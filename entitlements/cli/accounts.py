"""`entitlements accounts show`: what an account may do now, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..catalog import FEATURES
from .common import runtime_of, when, with_app

if TYPE_CHECKING:
    from flask import Flask


@click.group("accounts")
def accounts() -> None:
    """Inspect accounts."""


@accounts.command("show")
@click.argument("account")
@with_app
def accounts_show(app: Flask, account: str) -> None:
    """Print what resolve() says of ACCOUNT now, and why."""
    from .. import db
    from ..models import Ban
    from ..services.account_facts import access_for
    from ..services.accounts import validate_account_id

    rt = runtime_of(app)
    validate_account_id(account)
    now = rt.clock()
    access = access_for(db.session(), account, now=now, policy=rt.policy)
    click.echo(f"account:     {account}")
    click.echo(f"as of:       {when(now)}")
    click.echo(f"plan:        {access.plan or 'none'}")
    click.echo(f"features:    {', '.join(access.features) or 'none'}")
    click.echo(f"valid until: {when(access.valid_until)}")
    for source in access.sources:
        click.echo(
            f"  {source.feature:16} through {source.source} ({source.ref}) until "
            f"{when(source.ends_at)}"
        )
    for restriction in access.restrictions:
        # resolve() carries what the reader is told; the operator also sees the admins' note.
        ban = db.session().get(Ban, int(restriction.ref.removeprefix("ban:")))
        click.echo(
            f"  {restriction.feature:16} WITHHELD by {restriction.ref} until "
            f"{when(restriction.ends_at)}: {ban.reason if ban else ''} "
            f"(reader sees: {restriction.message})"
        )
    missing = [f for f in FEATURES if f not in access.features]
    if missing:
        click.echo(f"  not held: {', '.join(missing)}")
