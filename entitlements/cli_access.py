"""`entitlements grants|bans|accounts ...`: minimal access administration."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .catalog import FEATURES
from .cli import cli_actor, main, parse_until, runtime_of, when, with_app
from .vocabulary import GRANT_KINDS

if TYPE_CHECKING:
    from flask import Flask

# Row ids are 64-bit: anything larger is bad input, not a database error.
ID = click.IntRange(1, 2**63 - 1)


@main.group("grants")
def grants() -> None:
    """Grant features outside Stripe (complimentary access, grandfathering)."""


@grants.command("add")
@click.argument("account")
@click.option("--feature", required=True, type=click.Choice(FEATURES))
@click.option("--until", "until", help="ISO 8601 end, e.g. 2025-06-30T00:00:00Z (default: none)")
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@click.option("--kind", default="comp", show_default=True, type=click.Choice(GRANT_KINDS))
@with_app
def grants_add(
    app: Flask, account: str, feature: str, until: str | None, reason: str, kind: str
) -> None:
    """Grant FEATURE to ACCOUNT."""
    from . import db
    from .services.audit import Actor
    from .services.grants import add_grant, follows_policy

    rt = runtime_of(app)
    ends_at = parse_until(until)
    session = db.session()
    grant = add_grant(
        session,
        account,
        feature=feature,
        kind=kind,
        reason=reason,
        actor=Actor(cli_actor()),
        now=rt.clock(),
        ends_at=ends_at,
        ends_by_policy=follows_policy(
            kind, ends_at, policy_end=rt.policy.grandfather_until, now=rt.clock()
        ),
    )
    session.commit()
    end = rt.policy.grant_end(grant.ends_at, grant.ends_by_policy)
    click.echo(f"grant {grant.id}: {feature} for {account} until {when(end)}")


@grants.command("revoke")
@click.argument("grant_id", type=ID)
@click.option("--reason", default="revoked from the command line", show_default=True)
@with_app
def grants_revoke(app: Flask, grant_id: int, reason: str) -> None:
    """Revoke the grant GRANT_ID now."""
    from . import db
    from .services.audit import Actor
    from .services.grants import revoke_grant

    rt = runtime_of(app)
    session = db.session()
    revoke_grant(session, grant_id, reason=reason, actor=Actor(cli_actor()), now=rt.clock())
    session.commit()
    click.echo(f"revoked grant {grant_id}")


@main.group("bans")
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
    from . import db
    from .services.audit import Actor
    from .services.bans import add_ban

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
@click.argument("ban_id", type=ID)
@click.option("--reason", default="lifted from the command line", show_default=True)
@with_app
def bans_lift(app: Flask, ban_id: int, reason: str) -> None:
    """Lift the ban BAN_ID now."""
    from . import db
    from .services.audit import Actor
    from .services.bans import lift_ban

    rt = runtime_of(app)
    session = db.session()
    lift_ban(session, ban_id, reason=reason, actor=Actor(cli_actor()), now=rt.clock())
    session.commit()
    click.echo(f"lifted ban {ban_id}")


@main.group("accounts")
def accounts() -> None:
    """Inspect accounts."""


@accounts.command("show")
@click.argument("account")
@with_app
def accounts_show(app: Flask, account: str) -> None:
    """Print what resolve() says of ACCOUNT now, and why."""
    from . import db
    from .models import Ban
    from .services.accounts import access_for, validate_account_id

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
