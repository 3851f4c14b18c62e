"""`entitlements admins create|list|disable`: who may sign in to the admin console."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import cli_actor, fail, print_table, runtime_of, when, with_app

if TYPE_CHECKING:
    from flask import Flask


@click.group("admins")
def admins() -> None:
    """Admin console accounts (passwords are stored as argon2id hashes only)."""


def _prompt_password() -> str:
    """Ask for the password twice, without echo; a mismatch is bad input."""
    first = click.prompt("Password", hide_input=True, default="", show_default=False)
    second = click.prompt("Repeat password", hide_input=True, default="", show_default=False)
    if first != second:
        fail("the two passwords differ; nothing was created")
    return str(first)


@admins.command("create")
@click.argument("email")
@click.option(
    "--generate", is_flag=True, help="Generate a password and print it once, instead of asking."
)
@with_app
def admins_create(app: Flask, email: str, generate: bool) -> None:
    """Create an admin who signs in at /admin with EMAIL."""
    from .. import db
    from ..services.admins import check_password, create_admin, generate_password, normalize_email
    from ..services.audit import Actor

    # Check the address before asking for a password the operator would type in vain.
    normalize_email(email)
    password = generate_password() if generate else check_password(_prompt_password())
    session = db.session()
    admin = create_admin(
        session, email, password, actor=Actor(cli_actor()), now=runtime_of(app).clock()
    )
    session.commit()
    click.echo(f"admin {admin.email} created")
    if generate:
        click.echo("password (shown once; it is stored only as a hash):")
        click.echo(password)


@admins.command("list")
@with_app
def admins_list(app: Flask) -> None:
    """List admins and whether they are active, locked or disabled."""
    from .. import db
    from ..services.admins import list_admins

    now = runtime_of(app).clock()
    rows = []
    for admin in list_admins(db.session()):
        if admin.disabled_at is not None:
            status = "disabled"
        elif admin.locked_until is not None and admin.locked_until > now:
            # Set by failures from many addresses: known addresses still sign in.
            status = f"locked for new addresses until {when(admin.locked_until)}"
        else:
            status = "active"
        rows.append(
            {
                "email": admin.email,
                "status": status,
                "created": when(admin.created_at),
                "last_login": when(admin.last_login_at) if admin.last_login_at else "never",
            }
        )
    print_table(rows, ["email", "status", "created", "last_login"])


@admins.command("disable")
@click.argument("email")
@with_app
def admins_disable(app: Flask, email: str) -> None:
    """Disable the admin EMAIL; their open console sessions end at once."""
    from .. import db
    from ..services.admins import disable_admin
    from ..services.audit import Actor

    session = db.session()
    admin = disable_admin(session, email, actor=Actor(cli_actor()), now=runtime_of(app).clock())
    session.commit()
    click.echo(f"admin {admin.email} disabled")
