"""`entitlements grants|bans|accounts|demo ...`: minimal access administration."""

from __future__ import annotations

import click
from flask import Flask

from . import db
from .catalog import FEATURES
from .cli import cli_actor, main, parse_until, runtime_of, when, with_app
from .services.accounts import access_for, validate_account_id
from .services.audit import Actor
from .services.bans import add_ban, lift_ban
from .services.grants import GRANT_KINDS, add_grant, follows_policy, revoke_grant

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
@click.option("--reason", required=True, help="Why (at most 2000 characters).")
@with_app
def bans_add(app: Flask, account: str, feature: str, until: str | None, reason: str) -> None:
    """Ban ACCOUNT from FEATURE."""
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
    )
    session.commit()
    click.echo(f"ban {ban.id}: {account} may not {feature} until {when(ban.ends_at)}")


@bans.command("lift")
@click.argument("ban_id", type=ID)
@click.option("--reason", default="lifted from the command line", show_default=True)
@with_app
def bans_lift(app: Flask, ban_id: int, reason: str) -> None:
    """Lift the ban BAN_ID now."""
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
        click.echo(
            f"  {restriction.feature:16} WITHHELD by {restriction.ref} until "
            f"{when(restriction.ends_at)}: {restriction.reason}"
        )
    missing = [f for f in FEATURES if f not in access.features]
    if missing:
        click.echo(f"  not held: {', '.join(missing)}")


@main.group("demo")
def demo() -> None:
    """Demo data for trying the service locally."""


@demo.command("load")
@with_app
def demo_load(app: Flask) -> None:
    """Load demo accounts (idempotent) and print a fresh demo service key last."""
    from .demo import load_demo

    rt = runtime_of(app)
    session = db.session()
    lines, key = load_demo(session, now=rt.clock(), actor=Actor(cli_actor()))
    session.commit()
    for line in lines:
        click.echo(line)
    click.echo("demo service key (all scopes):")
    click.echo(key)


@demo.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--stripe-port",
    default=12111,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the offline Stripe emulator (started when no Stripe key is set).",
)
@click.pass_context
def demo_run(ctx: click.Context, host: str, port: int, stripe_port: int) -> None:
    """Migrate, load demo data and serve, with the offline Stripe emulator: no network."""
    import os
    import secrets

    from werkzeug.serving import run_simple

    from .app import create_app
    from .cli import db_upgrade

    public_url = f"http://{host}:{port}"
    os.environ.setdefault("ENTITLEMENTS_PUBLIC_URL", public_url)
    os.environ.setdefault("ENTITLEMENTS_DEMO", "true")
    emulator = None
    if not os.environ.get("ENTITLEMENTS_STRIPE_SECRET_KEY"):
        from .devstripe import EmulatorServer

        webhook_secret = "whsec_demo_" + secrets.token_urlsafe(24)
        emulator = EmulatorServer(
            port=stripe_port,
            host=host,
            webhook_endpoints=[(f"{public_url}/v1/webhooks/stripe", webhook_secret)],
        ).start()
        # The emulator accepts any sk_test_ key: this names it, it guards nothing.
        os.environ["ENTITLEMENTS_STRIPE_SECRET_KEY"] = "sk_test_offline_emulator"  # noqa: S105
        os.environ["ENTITLEMENTS_STRIPE_API_BASE"] = emulator.url
        os.environ["ENTITLEMENTS_STRIPE_WEBHOOK_SECRET"] = webhook_secret
        click.echo(f"offline Stripe emulator on {emulator.url} (test cards: 4242 4242 4242 4242)")
    ctx.invoke(db_upgrade)
    ctx.invoke(demo_load)
    click.echo(f"serving on {public_url}  - try {public_url}/demo to sign in as a reader")
    try:
        run_simple(host, port, create_app(), threaded=True, use_reloader=False)
    finally:
        if emulator is not None:
            emulator.stop()
