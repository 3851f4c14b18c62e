"""`entitlements service-keys create|list|revoke`: bearer keys of site services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..vocabulary import SCOPES
from .common import cli_actor, print_table, runtime_of, when, with_app

if TYPE_CHECKING:
    from flask import Flask


@click.group("service-keys")
def service_keys() -> None:
    """Bearer keys for site services (stored only as hashes)."""


@service_keys.command("create")
@click.option("--name", required=True, help="A name for the calling service, e.g. comments.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="Repeat for several scopes.",
)
@with_app
def service_keys_create(app: Flask, name: str, scopes: tuple[str, ...]) -> None:
    """Create a key and print it once; the last line of output is the key alone."""
    from .. import db
    from ..services.audit import Actor
    from ..services.service_keys import create_service_key

    rt = runtime_of(app)
    session = db.session()
    row, plaintext = create_service_key(
        session, name=name, scopes=list(scopes), actor=Actor(cli_actor()), now=rt.clock()
    )
    session.commit()
    click.echo(f"created service key {row.name!r} with scopes: {row.scopes}")
    click.echo("store it now; it is not shown again:")
    click.echo(plaintext)


@service_keys.command("list")
@with_app
def service_keys_list(app: Flask) -> None:
    """List service keys (names, prefixes, scopes, states; never the keys)."""
    from sqlalchemy import select

    from .. import db
    from ..models import ServiceKey

    rows = db.session().scalars(select(ServiceKey).order_by(ServiceKey.name))
    print_table(
        [
            {
                "name": r.name,
                "prefix": r.prefix + "...",
                "scopes": r.scopes.replace(" ", ","),
                "created": when(r.created_at),
                "state": "revoked " + when(r.revoked_at) if r.revoked_at else "active",
            }
            for r in rows
        ],
        ["name", "prefix", "scopes", "created", "state"],
    )


@service_keys.command("revoke")
@click.argument("name")
@with_app
def service_keys_revoke(app: Flask, name: str) -> None:
    """Revoke the key NAME; requests with it fail at once."""
    from .. import db
    from ..services.audit import Actor
    from ..services.service_keys import revoke_service_key

    rt = runtime_of(app)
    session = db.session()
    revoke_service_key(session, name, actor=Actor(cli_actor()), now=rt.clock())
    session.commit()
    click.echo(f"revoked service key {name!r}")
