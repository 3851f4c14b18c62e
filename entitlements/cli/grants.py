"""`entitlements grants add|revoke`: access given outside Stripe."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..catalog import FEATURES
from ..vocabulary import GRANT_KINDS
from .common import ROW_ID, cli_actor, parse_until, runtime_of, when, with_app

if TYPE_CHECKING:
    from flask import Flask


@click.group("grants")
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
    from .. import db
    from ..services.audit import Actor
    from ..services.grants import add_grant

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
        policy_end=rt.policy.grandfather_until,
    )
    session.commit()
    end = rt.policy.grant_end(grant.ends_at, grant.ends_by_policy)
    click.echo(f"grant {grant.id}: {feature} for {account} until {when(end)}")


@grants.command("revoke")
@click.argument("grant_id", type=ROW_ID)
@click.option("--reason", default="revoked from the command line", show_default=True)
@with_app
def grants_revoke(app: Flask, grant_id: int, reason: str) -> None:
    """Revoke the grant GRANT_ID now."""
    from .. import db
    from ..services.audit import Actor
    from ..services.grants import revoke_grant

    rt = runtime_of(app)
    session = db.session()
    revoke_grant(session, grant_id, reason=reason, actor=Actor(cli_actor()), now=rt.clock())
    session.commit()
    click.echo(f"revoked grant {grant_id}")
