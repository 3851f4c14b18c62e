"""`entitlements service-keys ...` and `entitlements signing-keys ...`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .cli import cli_actor, main, print_table, runtime_of, when, with_app
from .vocabulary import SCOPES

if TYPE_CHECKING:
    from flask import Flask


@main.group("service-keys")
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
    from . import db
    from .services.audit import Actor
    from .services.service_keys import create_service_key

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

    from . import db
    from .models import ServiceKey

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
    from . import db
    from .services.audit import Actor
    from .services.service_keys import revoke_service_key

    rt = runtime_of(app)
    session = db.session()
    revoke_service_key(session, name, actor=Actor(cli_actor()), now=rt.clock())
    session.commit()
    click.echo(f"revoked service key {name!r}")


@main.group("signing-keys")
def signing_keys() -> None:
    """Token signing keys: rotation and states."""


@signing_keys.command("rotate")
@with_app
def signing_keys_rotate(app: Flask) -> None:
    """Add a signing key: published at once, signing after the publish delay."""
    from . import db
    from .services.audit import Actor, record
    from .tokens.keys import rotate

    rt = runtime_of(app)
    session = db.session()
    now = rt.clock()
    row = rotate(
        session,
        secret_key=rt.config.secret_key,
        now=now,
        publish_delay=rt.config.signing_key_publish_delay,
    )
    record(
        session,
        Actor(cli_actor()),
        action="signing_key.rotate",
        subject_type="signing_key",
        subject_id=row.kid,
        account_id=None,
        now=now,
        after={"kid": row.kid, "alg": row.alg, "activates_at": when(row.activates_at)},
    )
    session.commit()
    click.echo(f"added signing key {row.kid} ({row.alg}); it signs from {when(row.activates_at)}")


@signing_keys.command("list")
@with_app
def signing_keys_list(app: Flask) -> None:
    """List signing keys with their states (pending, active, retiring, expired)."""
    from sqlalchemy import select

    from . import db
    from .models import SigningKey
    from .tokens.keys import key_states

    rt = runtime_of(app)
    rows = list(db.session().scalars(select(SigningKey)))
    states = key_states(rows, now=rt.clock(), token_ttl=rt.config.token_ttl)
    print_table(
        [
            {
                "kid": s.kid,
                "alg": s.alg,
                "state": s.state,
                "created": when(s.created_at),
                "signs_from": when(s.activates_at),
                "retires": when(s.retires_at) if s.retires_at else "-",
                "unpublished": when(s.unpublish_at) if s.unpublish_at else "-",
            }
            for s in states
        ],
        ["kid", "alg", "state", "created", "signs_from", "retires", "unpublished"],
    )
