"""`entitlements signing-keys rotate|list`: the keys that sign tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import cli_actor, print_table, runtime_of, when, with_app

if TYPE_CHECKING:
    from flask import Flask


@click.group("signing-keys")
def signing_keys() -> None:
    """Token signing keys: rotation and states."""


@signing_keys.command("rotate")
@with_app
def signing_keys_rotate(app: Flask) -> None:
    """Add a signing key: published at once, signing after the publish delay."""
    from .. import db
    from ..services.audit import Actor
    from ..tokens.keys import rotate

    rt = runtime_of(app)
    session = db.session()
    row = rotate(
        session,
        secret_key=rt.config.secret_key,
        now=rt.clock(),
        publish_delay=rt.config.signing_key_publish_delay,
        actor=Actor(cli_actor()),
    )
    session.commit()
    click.echo(f"added signing key {row.kid} ({row.alg}); it signs from {when(row.activates_at)}")


@signing_keys.command("list")
@with_app
def signing_keys_list(app: Flask) -> None:
    """List signing keys with their states (pending, active, retiring, expired)."""
    from sqlalchemy import select

    from .. import db
    from ..models import SigningKey
    from ..tokens.keys import key_states

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
